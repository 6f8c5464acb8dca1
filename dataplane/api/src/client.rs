//! The async client of the dataplane's API: one method per operation, over the unix socket.
//!
//! Each call opens its own connection: calls are rare (an operator, a CNI ADD), and a fresh
//! connection means a restarted daemon is simply found again. Errors tell apart what a caller
//! must handle differently: the daemon is not there ([`ClientError::Unreachable`],
//! [`ClientError::Timeout`]), it refused the request (4xx, [`ClientError::Refused`]), or it
//! failed doing it (5xx, [`ClientError::Server`]).
//!
//! Synchronous programs (the CNI plugin) can use [`block_on`], which runs one call on a
//! private current-thread runtime.

use std::future::Future;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::addr::{Ipv4Cidr, Ipv4Prefix};
use crate::error::{ApiError, ErrorBody};
use crate::model::{
    CaptureRequest, CaptureResult, CreatePort, Neighbor, NeighborInfo, PortInfo, Route, RouteInfo,
    SetAddress, SetAdminState, Status, TraceRequest, TraceResult, Tunnel, validate_name,
};
use crate::paths;
use crate::stats::{ErrorStats, PortStats, RuntimeStats};

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/dataplane/api.sock";

/// How long a call may take by default (connect, request, answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon: the socket is missing, nobody listens on it, or we may not connect.
    #[error("{}", unreachable_message(socket, source))]
    Unreachable {
        /// The socket tried.
        socket: PathBuf,
        /// The connect error.
        #[source]
        source: io::Error,
    },
    /// The daemon accepted the connection but did not answer in time.
    #[error("the dataplane did not answer within {}s on {}", timeout.as_secs_f64(), socket.display())]
    Timeout {
        /// The socket used.
        socket: PathBuf,
        /// The limit.
        timeout: Duration,
    },
    /// The daemon refused the request (4xx): `message` says why and names the field.
    #[error("request refused: {message}")]
    Refused {
        /// HTTP status (400, 404, 409...).
        status: u16,
        /// The daemon's reason.
        message: String,
        /// The request field at fault, when the daemon named one.
        field: Option<String>,
    },
    /// The daemon failed while doing it (5xx).
    #[error("the dataplane failed: {message} (HTTP {status})")]
    Server {
        /// HTTP status (500, 501, 503).
        status: u16,
        /// The daemon's reason.
        message: String,
    },
    /// The answer was not what the API promises (connection cut, bad JSON).
    #[error("bad answer from the dataplane: {0}")]
    Protocol(String),
    /// The request was invalid before it was sent (a name that cannot be in a path).
    #[error("invalid request: {}", .0.message)]
    Invalid(ApiError),
}

fn unreachable_message(socket: &Path, e: &io::Error) -> String {
    let s = socket.display();
    match e.kind() {
        io::ErrorKind::NotFound => {
            format!("the dataplane is not running: no API socket at {s}")
        }
        io::ErrorKind::ConnectionRefused => {
            format!("the dataplane is not running: connection refused on {s} (stale socket)")
        }
        io::ErrorKind::PermissionDenied => format!(
            "cannot reach the dataplane at {s}: permission denied (the socket is owner-only; \
             run as its owner or root)"
        ),
        _ => format!("cannot reach the dataplane at {s}: {e}"),
    }
}

impl ClientError {
    /// True when the daemon could not be reached at all (missing, refused, no answer).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. } | ClientError::Timeout { .. }
        )
    }

    /// The HTTP status of a refusal or server failure.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } | ClientError::Server { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// Runs one client future to completion on a private current-thread runtime, for synchronous
/// callers. Must not be called from inside a tokio runtime (tokio panics on nested runtimes),
/// so it refuses with an `Protocol` error instead.
pub fn block_on<T>(fut: impl Future<Output = Result<T, ClientError>>) -> Result<T, ClientError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(ClientError::Protocol(
            "dp_api::client::block_on called inside an async runtime; await the call instead"
                .into(),
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Protocol(format!("cannot start a runtime: {e}")))?;
    rt.block_on(fut)
}

/// A client for one daemon socket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

impl Client {
    /// A client for the daemon listening on `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Client {
            socket: socket.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the per-call time limit (trace and capture add their own wait to it).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one request; decodes a 2xx body as `T` (an empty body as JSON `null`, so `T = ()`
    /// fits 204), a 4xx/5xx body as an [`ErrorBody`].
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        extra_wait: Duration,
    ) -> Result<T, ClientError> {
        let body =
            match body {
                Some(b) => Bytes::from(serde_json::to_vec(b).map_err(|e| {
                    ClientError::Protocol(format!("cannot encode the request: {e}"))
                })?),
                None => Bytes::new(),
            };
        let timeout = self.timeout + extra_wait;
        let exchange = self.exchange(method, path, body);
        let (status, bytes) = match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(ClientError::Timeout {
                    socket: self.socket.clone(),
                    timeout,
                });
            }
        };
        if status.is_success() {
            let text: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
            return serde_json::from_slice(text).map_err(|e| {
                ClientError::Protocol(format!("cannot decode the answer to {path}: {e}"))
            });
        }
        // A non-JSON error body (a proxy, a crash) still yields its text as the message.
        let (message, field) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => (b.error, b.field),
            Err(_) => {
                let text = String::from_utf8_lossy(&bytes).trim().to_string();
                let text = if text.is_empty() {
                    status.canonical_reason().unwrap_or("no reason").to_string()
                } else {
                    text
                };
                (text, None)
            }
        };
        if status.is_client_error() {
            Err(ClientError::Refused {
                status: status.as_u16(),
                message,
                field,
            })
        } else {
            Err(ClientError::Server {
                status: status.as_u16(),
                message,
            })
        }
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Unreachable {
                socket: self.socket.clone(),
                source,
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Protocol(format!("HTTP handshake failed: {e}")))?;
        // The connection future drives the socket; it ends when the exchange is done.
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let has_body = !body.is_empty();
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            // HTTP/1.1 requires a Host; the socket is the real address.
            .header(hyper::header::HOST, "dataplane");
        if has_body {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| ClientError::Protocol(format!("cannot build the request: {e}")))?;
        let result = async {
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| ClientError::Protocol(format!("request failed: {e}")))?;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Protocol(format!("reading the answer failed: {e}")))?
                .to_bytes();
            Ok((status, bytes))
        }
        .await;
        driver.abort();
        result
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), T>(Method::GET, path, None, Duration::ZERO)
            .await
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(method, path, Some(body), Duration::ZERO).await
    }

    async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.call::<(), ()>(Method::DELETE, path, None, Duration::ZERO)
            .await
    }

    /// `GET /v1/status`: is the daemon there, and which version.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get(paths::STATUS).await
    }

    /// `GET /v1/ports`.
    pub async fn list_ports(&self) -> Result<Vec<PortInfo>, ClientError> {
        self.get(paths::PORTS).await
    }

    /// `GET /v1/ports/{name}`.
    pub async fn get_port(&self, name: &str) -> Result<PortInfo, ClientError> {
        self.get(&paths::port(checked(name)?)).await
    }

    /// `POST /v1/ports`: creates a port (a DPDK vdev, memif or vhost-user) and returns it.
    pub async fn create_port(&self, req: &CreatePort) -> Result<PortInfo, ClientError> {
        self.send(Method::POST, paths::PORTS, req).await
    }

    /// `DELETE /v1/ports/{name}`.
    pub async fn delete_port(&self, name: &str) -> Result<(), ClientError> {
        self.delete(&paths::port(checked(name)?)).await
    }

    /// `PUT /v1/ports/{name}/address`: sets (`Some`) or removes (`None`) the address.
    pub async fn set_port_address(
        &self,
        name: &str,
        address: Option<Ipv4Cidr>,
    ) -> Result<PortInfo, ClientError> {
        let path = paths::port_address(checked(name)?);
        self.send(Method::PUT, &path, &SetAddress { address }).await
    }

    /// `PUT /v1/ports/{name}/admin-state`: up or down.
    pub async fn set_port_up(&self, name: &str, up: bool) -> Result<PortInfo, ClientError> {
        let path = paths::port_admin_state(checked(name)?);
        self.send(Method::PUT, &path, &SetAdminState { up }).await
    }

    /// `GET /v1/routes`: the FIB (static, connected and local entries).
    pub async fn list_routes(&self) -> Result<Vec<RouteInfo>, ClientError> {
        self.get(paths::ROUTES).await
    }

    /// `POST /v1/routes`.
    pub async fn add_route(&self, route: &Route) -> Result<RouteInfo, ClientError> {
        self.send(Method::POST, paths::ROUTES, route).await
    }

    /// `DELETE /v1/routes/{addr}/{len}`.
    pub async fn delete_route(&self, prefix: Ipv4Prefix) -> Result<(), ClientError> {
        self.delete(&paths::route(prefix)).await
    }

    /// `GET /v1/neighbors`.
    pub async fn list_neighbors(&self) -> Result<Vec<NeighborInfo>, ClientError> {
        self.get(paths::NEIGHBORS).await
    }

    /// `POST /v1/neighbors`: a static entry.
    pub async fn add_neighbor(&self, n: &Neighbor) -> Result<NeighborInfo, ClientError> {
        self.send(Method::POST, paths::NEIGHBORS, n).await
    }

    /// `DELETE /v1/neighbors/{interface}/{address}`.
    pub async fn delete_neighbor(
        &self,
        interface: &str,
        address: Ipv4Addr,
    ) -> Result<(), ClientError> {
        self.delete(&paths::neighbor(checked(interface)?, address))
            .await
    }

    /// `GET /v1/tunnels`.
    pub async fn list_tunnels(&self) -> Result<Vec<Tunnel>, ClientError> {
        self.get(paths::TUNNELS).await
    }

    /// `POST /v1/tunnels`.
    pub async fn add_tunnel(&self, t: &Tunnel) -> Result<Tunnel, ClientError> {
        self.send(Method::POST, paths::TUNNELS, t).await
    }

    /// `DELETE /v1/tunnels/{name}`.
    pub async fn delete_tunnel(&self, name: &str) -> Result<(), ClientError> {
        self.delete(&paths::tunnel(checked(name)?)).await
    }

    /// `GET /v1/stats/ports`.
    pub async fn port_stats(&self) -> Result<Vec<PortStats>, ClientError> {
        self.get(paths::STATS_PORTS).await
    }

    /// `GET /v1/stats/runtime`: per-node counters per worker and summed.
    pub async fn runtime_stats(&self) -> Result<RuntimeStats, ClientError> {
        self.get(paths::STATS_RUNTIME).await
    }

    /// `GET /v1/stats/errors`: drops by node and reason, per worker and summed.
    pub async fn error_stats(&self) -> Result<ErrorStats, ClientError> {
        self.get(paths::STATS_ERRORS).await
    }

    /// `POST /v1/trace`: waits up to `req.wait_ms` (plus the call timeout) for the packets.
    pub async fn trace(&self, req: &TraceRequest) -> Result<TraceResult, ClientError> {
        let wait = Duration::from_millis(req.wait_ms);
        self.call(Method::POST, paths::TRACE, Some(req), wait).await
    }

    /// `POST /v1/capture`: waits up to `req.wait_ms` (plus the call timeout).
    pub async fn capture(&self, req: &CaptureRequest) -> Result<CaptureResult, ClientError> {
        let wait = Duration::from_millis(req.wait_ms);
        self.call(Method::POST, paths::CAPTURE, Some(req), wait)
            .await
    }
}

/// Names go into URL paths: one that could not be a name would address another endpoint.
fn checked(name: &str) -> Result<&str, ClientError> {
    validate_name("name", name).map_err(ClientError::Invalid)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_socket_is_unreachable_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let c = Client::new(dir.path().join("api.sock"));
        let e = c.list_ports().await.unwrap_err();
        assert!(e.is_unreachable(), "{e:?}");
        assert!(e.to_string().contains("not running: no API socket"), "{e}");
    }

    #[tokio::test]
    async fn refused_connection_is_unreachable_and_says_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        // Bound then closed: the file stays, nobody listens (what a crashed daemon leaves).
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let e = Client::new(&path).status().await.unwrap_err();
        assert!(e.is_unreachable(), "{e:?}");
        assert!(e.to_string().contains("connection refused"), "{e}");
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        // Listening but never accepting: the connect succeeds, no answer ever comes.
        let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let c = Client::new(&path).with_timeout(Duration::from_millis(200));
        let e = c.status().await.unwrap_err();
        assert!(matches!(e, ClientError::Timeout { .. }), "{e:?}");
        assert!(e.is_unreachable());
    }

    #[tokio::test]
    async fn names_that_would_change_the_path_are_refused_locally() {
        let c = Client::new("/nonexistent/api.sock");
        let e = c.delete_port("../routes").await.unwrap_err();
        assert!(matches!(e, ClientError::Invalid(_)), "{e:?}");
    }

    #[test]
    fn block_on_runs_a_call_outside_a_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let c = Client::new(dir.path().join("none.sock"));
        let e = block_on(c.status()).unwrap_err();
        assert!(e.is_unreachable());
    }
}
