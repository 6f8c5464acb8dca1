//! `dp-api`: the dataplane's control API, shared by the daemon and its clients (`dpctl`,
//! `cni-sriov`). No DPDK: clients link only serde, tokio and hyper.
//!
//! - [`addr`], [`model`], [`stats`], [`error`]: the request and response types, as JSON
//!   objects with `snake_case` fields, and the checks a request must pass ([`Validate`]),
//!   whose errors name the field at fault.
//! - [`client`]: an async [`Client`] over the unix socket, one method per operation.
//! - `server` (feature `server`): the HTTP/1.1 server over a unix socket, generic over the
//!   [`server::Backend`] trait the daemon implements.
//! - `testing` (feature `testing`): an in-memory fake backend and a server-in-a-thread for
//!   tests.
//!
//! # HTTP routes
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /v1/status` | | 200 [`Status`] |
//! | `GET /v1/ports` | | 200 `[PortInfo]` |
//! | `POST /v1/ports` | [`CreatePort`] | 201 [`PortInfo`] |
//! | `GET /v1/ports/{name}` | | 200 [`PortInfo`] |
//! | `DELETE /v1/ports/{name}` | | 204 |
//! | `PUT /v1/ports/{name}/address` | [`SetAddress`] (`{"address": "10.0.1.1/24"}` or `null`) | 200 [`PortInfo`] |
//! | `PUT /v1/ports/{name}/admin-state` | [`SetAdminState`] (`{"up": true}`) | 200 [`PortInfo`] |
//! | `GET /v1/routes` | | 200 `[RouteInfo]` |
//! | `POST /v1/routes` | [`Route`] | 201 [`RouteInfo`] |
//! | `DELETE /v1/routes/{addr}/{len}` | | 204 |
//! | `GET /v1/neighbors` | | 200 `[NeighborInfo]` |
//! | `POST /v1/neighbors` | [`Neighbor`] | 201 [`NeighborInfo`] |
//! | `DELETE /v1/neighbors/{interface}/{address}` | | 204 |
//! | `GET /v1/tunnels` | | 200 `[Tunnel]` |
//! | `POST /v1/tunnels` | [`Tunnel`] | 201 [`Tunnel`] |
//! | `DELETE /v1/tunnels/{name}` | | 204 |
//! | `GET /v1/stats/ports` | | 200 `[PortStats]` |
//! | `GET /v1/stats/runtime` | | 200 [`RuntimeStats`] |
//! | `GET /v1/stats/errors` | | 200 [`ErrorStats`] |
//! | `POST /v1/trace` | [`TraceRequest`] | 200 [`TraceResult`] |
//! | `POST /v1/capture` | [`CaptureRequest`] | 200 [`CaptureResult`] |
//!
//! Every other answer is an [`ErrorBody`] `{"error": "...", "field": "..."}`: 400 for a body
//! that is not JSON, a missing or unknown field, or an invalid value (`field` names it, e.g.
//! `next_hops[0].via`); 404 for an unknown endpoint or object; 405 for a wrong method; 409 for
//! a duplicate or an object in use; 413 for a body over 1 MiB; 5xx when the daemon failed.

//!
//! # Serving (the daemon)
//!
//! ```ignore
//! // `Dataplane` implements `dp_api::server::Backend` (one async method per operation).
//! let server = dp_api::server::Server::bind("/run/dataplane/api.sock", Arc::new(dataplane)).await?;
//! server.serve(async { shutdown_token.cancelled().await }).await;
//! ```
//!
//! # Calling (a client)
//!
//! ```ignore
//! let client = dp_api::Client::new(dp_api::client::DEFAULT_SOCKET);
//! let port = client.create_port(&req).await?;              // async callers
//! let port = dp_api::client::block_on(client.create_port(&req))?; // synchronous callers
//! ```

#![forbid(unsafe_code)]

pub mod addr;
pub mod client;
pub mod error;
pub mod model;
pub mod paths;
#[cfg(feature = "server")]
pub mod server;
pub mod stats;
#[cfg(feature = "testing")]
pub mod testing;

pub use addr::{Ipv4Cidr, Ipv4Prefix, MacAddr};
pub use client::{Client, ClientError};
pub use error::{ApiError, ErrorBody};
pub use model::*;
pub use stats::*;
