//! The API server (feature `server`): HTTP/1.1 + JSON on a unix socket, generic over a
//! [`Backend`] the daemon implements.
//!
//! The server owns everything that does not need the dataplane: the socket file (created
//! owner-only, its directory made, a stale file replaced, a live one left alone), routing,
//! body limits, JSON decoding with the failing field named, request validation
//! ([`Validate`]), status codes, and the sums and ratios of the stats answers. The backend
//! sees only requests that passed those checks, and answers with values or an [`ApiError`].
//!
//! Shutdown is graceful: when the future given to [`Server::serve`] completes, the socket file
//! is removed (so clients see "not running" at once), and requests in flight get a few seconds
//! to finish.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::addr::Ipv4Prefix;
use crate::error::ApiError;
use crate::model::{
    CaptureRequest, CaptureResult, CreatePort, Neighbor, NeighborInfo, PortInfo, Route, RouteInfo,
    SetAddress, SetAdminState, Status, TraceRequest, TraceResult, Tunnel, Validate, validate_name,
};
use crate::stats::{ErrorStats, PortStats, RuntimeStats, WorkerErrors, WorkerRuntime};

/// Largest request body accepted; API objects are small.
pub const MAX_BODY: usize = 1 << 20;
/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may run on after shutdown is asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// What the daemon does for each operation. The server calls a method only with a request
/// that passed [`Validate`] and with path names that passed `validate_name`.
///
/// Conventions: an unknown object (in the path, or named by the body, such as a route's
/// interface) is [`ApiError::not_found`] (404) with `field` set when it came from the body; a
/// duplicate, or deleting something still in use, is [`ApiError::conflict`] (409); a value
/// that is well-formed but unusable here (a tunnel whose local address is not ours) is
/// [`ApiError::invalid`] (400). A method that fails must change nothing.
///
/// Implement with `async fn`; the futures must be `Send` (the server runs each connection
/// on its own task).
pub trait Backend: Send + Sync + 'static {
    /// Every port.
    fn list_ports(&self) -> impl Future<Output = Result<Vec<PortInfo>, ApiError>> + Send;
    /// One port; 404 if unknown.
    fn get_port(&self, name: &str) -> impl Future<Output = Result<PortInfo, ApiError>> + Send;
    /// Creates and starts a port; 409 if the name (or socket, or device) is taken.
    fn create_port(
        &self,
        req: CreatePort,
    ) -> impl Future<Output = Result<PortInfo, ApiError>> + Send;
    /// Stops and removes a port; 404 if unknown, 409 if routes still use it.
    fn delete_port(&self, name: &str) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Sets or clears a port's address (and its connected route).
    fn set_port_address(
        &self,
        name: &str,
        req: SetAddress,
    ) -> impl Future<Output = Result<PortInfo, ApiError>> + Send;
    /// Brings a port up or down.
    fn set_port_admin_state(
        &self,
        name: &str,
        req: SetAdminState,
    ) -> impl Future<Output = Result<PortInfo, ApiError>> + Send;

    /// The FIB.
    fn list_routes(&self) -> impl Future<Output = Result<Vec<RouteInfo>, ApiError>> + Send;
    /// Adds a route; 409 if the prefix has one already, 404 if a next hop's interface is
    /// unknown.
    fn add_route(&self, route: Route) -> impl Future<Output = Result<RouteInfo, ApiError>> + Send;
    /// Deletes a static route; 404 if there is none for the prefix.
    fn delete_route(&self, prefix: Ipv4Prefix)
    -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Every neighbor (static and learned).
    fn list_neighbors(&self) -> impl Future<Output = Result<Vec<NeighborInfo>, ApiError>> + Send;
    /// Adds a static neighbor; 409 if one exists for (interface, address).
    fn add_neighbor(
        &self,
        n: Neighbor,
    ) -> impl Future<Output = Result<NeighborInfo, ApiError>> + Send;
    /// Deletes a neighbor; 404 if none.
    fn delete_neighbor(
        &self,
        interface: &str,
        address: Ipv4Addr,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Every tunnel.
    fn list_tunnels(&self) -> impl Future<Output = Result<Vec<Tunnel>, ApiError>> + Send;
    /// Adds a tunnel; 409 if the name or (vni, local, remote) is taken.
    fn add_tunnel(&self, t: Tunnel) -> impl Future<Output = Result<Tunnel, ApiError>> + Send;
    /// Deletes a tunnel; 404 if unknown.
    fn delete_tunnel(&self, name: &str) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Port counters.
    fn port_stats(&self) -> impl Future<Output = Result<Vec<PortStats>, ApiError>> + Send;
    /// Node counters per worker (the server adds totals and ratios).
    fn runtime_stats(&self) -> impl Future<Output = Result<Vec<WorkerRuntime>, ApiError>> + Send;
    /// Drop/error counters per worker (the server adds totals).
    fn error_stats(&self) -> impl Future<Output = Result<Vec<WorkerErrors>, ApiError>> + Send;

    /// Traces the next `req.count` packets, waiting up to `req.wait_ms`. Default: 501.
    fn trace(
        &self,
        req: TraceRequest,
    ) -> impl Future<Output = Result<TraceResult, ApiError>> + Send {
        let _ = req;
        async { Err(ApiError::not_implemented("trace")) }
    }

    /// Captures packets to a pcapng file. Default: 501.
    fn capture(
        &self,
        req: CaptureRequest,
    ) -> impl Future<Output = Result<CaptureResult, ApiError>> + Send {
        let _ = req;
        async { Err(ApiError::not_implemented("capture")) }
    }
}

/// Why the server could not take its socket.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another server answers on the socket: refusing to take it over.
    #[error("{}: another dataplane is already serving on this socket", path.display())]
    AlreadyRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// Something that is not a socket is in the way; we never delete it.
    #[error("{}: exists and is not a socket; not replacing it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A filesystem step failed.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> BindError + use<> {
    let path = path.to_path_buf();
    move |source| BindError::Io {
        path,
        action,
        source,
    }
}

/// The socket file we made; removed on drop if it is still ours (same inode), so a newer
/// server's socket at the same path is never deleted by an older one.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path)
            && m.dev() == self.dev
            && m.ino() == self.ino
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// An API server bound to its socket, ready to [`serve`](Server::serve).
#[derive(Debug)]
pub struct Server<B> {
    listener: tokio::net::UnixListener,
    file: SocketFile,
    backend: Arc<B>,
}

impl<B: Backend> Server<B> {
    /// Takes the socket at `path`: makes its directory if missing, refuses when another
    /// server answers there or a non-socket file is in the way, replaces a stale socket, and
    /// creates the new one owner-only (0600). Needs a tokio runtime.
    ///
    /// The socket is bound under a temporary name, restricted, then renamed into place, so
    /// there is never a moment when the final path is open to others.
    pub async fn bind(path: impl AsRef<Path>, backend: Arc<B>) -> Result<Self, BindError> {
        let path = path.as_ref();
        let (dir, file_name) = match (path.parent(), path.file_name()) {
            (Some(d), Some(f)) => (
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                },
                f,
            ),
            _ => {
                return Err(BindError::Io {
                    path: path.to_path_buf(),
                    action: "checking the socket path",
                    source: io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
                });
            }
        };
        std::fs::create_dir_all(dir).map_err(io_err(dir, "creating the socket directory"))?;
        match std::fs::symlink_metadata(path) {
            Ok(m) if !m.file_type().is_socket() => {
                return Err(BindError::NotASocket {
                    path: path.to_path_buf(),
                });
            }
            Ok(_) => match tokio::net::UnixStream::connect(path).await {
                Ok(_) => {
                    return Err(BindError::AlreadyRunning {
                        path: path.to_path_buf(),
                    });
                }
                // Nobody listens: a stale file from a daemon that died; the rename replaces it.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(io_err(path, "checking the existing socket")(e)),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path, "checking the socket path")(e)),
        }

        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            file_name.to_string_lossy(),
            std::process::id()
        ));
        let _ = std::fs::remove_file(&tmp);
        let listener = std::os::unix::net::UnixListener::bind(&tmp)
            .map_err(io_err(&tmp, "binding the socket"))?;
        let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(&tmp, "restricting the socket to its owner"))
            .and_then(|()| {
                std::fs::rename(&tmp, path).map_err(io_err(path, "moving the socket into place"))
            });
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let meta = std::fs::symlink_metadata(path).map_err(io_err(path, "checking the socket"))?;
        let file = SocketFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        };
        listener
            .set_nonblocking(true)
            .map_err(io_err(path, "setting the socket non-blocking"))?;
        let listener = tokio::net::UnixListener::from_std(listener)
            .map_err(io_err(path, "registering the socket with the runtime"))?;
        Ok(Server {
            listener,
            file,
            backend,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Serves until `shutdown` completes, then removes the socket file and lets requests in
    /// flight finish (for a few seconds at most).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Server {
            listener,
            file,
            backend,
        } = self;
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let backend = backend.clone();
                        let service = hyper::service::service_fn(move |req| {
                            let backend = backend.clone();
                            async move { Ok::<_, Infallible>(handle(&*backend, req).await) }
                        });
                        let conn = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(HEADER_TIMEOUT)
                            .serve_connection(TokioIo::new(stream), service);
                        let conn = graceful.watch(conn);
                        tokio::spawn(async move {
                            // A client that goes away mid-request is its own business.
                            let _ = conn.await;
                        });
                    }
                    // Out of file descriptors and the like: back off, keep serving.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
            }
        }
        drop(listener);
        drop(file);
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
    }
}

type Resp = Response<Full<Bytes>>;

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Resp {
    match serde_json::to_vec(value) {
        Ok(body) => Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))),
        Err(e) => error_response(&ApiError::internal(format!(
            "cannot encode the answer: {e}"
        ))),
    }
}

fn error_response(e: &ApiError) -> Resp {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&e.body()).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn answer<T: Serialize>(status: StatusCode, r: Result<T, ApiError>) -> Resp {
    match r {
        Ok(v) => json_response(status, &v),
        Err(e) => error_response(&e),
    }
}

fn no_content(r: Result<(), ApiError>) -> Resp {
    match r {
        Ok(()) => Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Full::new(Bytes::new()))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))),
        Err(e) => error_response(&e),
    }
}

/// The endpoints, parsed from the path (before the method is looked at).
enum Endpoint<'a> {
    Status,
    Ports,
    Port(&'a str),
    PortAddress(&'a str),
    PortAdminState(&'a str),
    Routes,
    Route(&'a str, &'a str),
    Neighbors,
    Neighbor(&'a str, &'a str),
    Tunnels,
    Tunnel(&'a str),
    StatsPorts,
    StatsRuntime,
    StatsErrors,
    Trace,
    Capture,
}

fn parse_path(path: &str) -> Option<Endpoint<'_>> {
    let path = path.strip_prefix("/v1/")?;
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    Some(match segs.as_slice() {
        ["status"] => Endpoint::Status,
        ["ports"] => Endpoint::Ports,
        ["ports", n] => Endpoint::Port(n),
        ["ports", n, "address"] => Endpoint::PortAddress(n),
        ["ports", n, "admin-state"] => Endpoint::PortAdminState(n),
        ["routes"] => Endpoint::Routes,
        ["routes", a, l] => Endpoint::Route(a, l),
        ["neighbors"] => Endpoint::Neighbors,
        ["neighbors", i, a] => Endpoint::Neighbor(i, a),
        ["tunnels"] => Endpoint::Tunnels,
        ["tunnels", n] => Endpoint::Tunnel(n),
        ["stats", "ports"] => Endpoint::StatsPorts,
        ["stats", "runtime"] => Endpoint::StatsRuntime,
        ["stats", "errors"] => Endpoint::StatsErrors,
        ["trace"] => Endpoint::Trace,
        ["capture"] => Endpoint::Capture,
        _ => return None,
    })
}

/// Decodes and validates a JSON body; errors name the field (`next_hops[0].via`).
fn decode<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty; a JSON object is expected",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        // serde reports a missing field at its parent; name the field itself. (An unknown
        // field's path already ends with it.)
        let named = msg
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        // Broken JSON has no field to blame, only a line and column.
        let data_error = inner.classify() == serde_json::error::Category::Data;
        let field = match (path.as_str(), named) {
            _ if !data_error => None,
            (".", Some(n)) => Some(n.to_string()),
            (".", None) => None,
            (p, Some(n)) => Some(format!("{p}.{n}")),
            (p, None) => Some(p.to_string()),
        };
        match field {
            Some(f) => ApiError::invalid(f, msg),
            None => ApiError::bad_request(format!("invalid JSON body: {msg}")),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    value.validate()?;
    Ok(value)
}

fn name_in_path<'a>(field: &str, name: &'a str) -> Result<&'a str, ApiError> {
    validate_name(field, name)?;
    Ok(name)
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            crate::error::status::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {MAX_BODY} bytes"),
        )),
        Err(e) => Err(ApiError::bad_request(format!(
            "cannot read the request body: {e}"
        ))),
    }
}

fn method_not_allowed(method: &Method, path: &str, allow: &str) -> Resp {
    let mut r = error_response(&ApiError::new(
        crate::error::status::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {path} (allowed: {allow})"),
    ));
    if let Ok(v) = header::HeaderValue::from_str(allow) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

async fn handle<B: Backend>(b: &B, req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let Some(endpoint) = parse_path(&path) else {
        return error_response(&ApiError::not_found(format!(
            "no such endpoint: {method} {path}"
        )));
    };
    let body = if method == Method::POST || method == Method::PUT {
        match read_body(req).await {
            Ok(b) => b,
            Err(e) => return error_response(&e),
        }
    } else {
        Bytes::new()
    };
    let created = StatusCode::CREATED;
    let ok = StatusCode::OK;
    use Endpoint as E;
    match (endpoint, &method) {
        (E::Status, &Method::GET) => json_response(
            ok,
            &Status {
                api: "v1".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
        ),
        (E::Status, _) => method_not_allowed(&method, &path, "GET"),

        (E::Ports, &Method::GET) => answer(ok, b.list_ports().await),
        (E::Ports, &Method::POST) => match decode::<CreatePort>(&body) {
            Ok(r) => answer(created, b.create_port(r).await),
            Err(e) => error_response(&e),
        },
        (E::Ports, _) => method_not_allowed(&method, &path, "GET, POST"),
        (E::Port(n), m) if m == Method::GET || m == Method::DELETE => {
            let n = match name_in_path("name", n) {
                Ok(n) => n,
                Err(e) => return error_response(&e),
            };
            if m == Method::GET {
                answer(ok, b.get_port(n).await)
            } else {
                no_content(b.delete_port(n).await)
            }
        }
        (E::Port(_), _) => method_not_allowed(&method, &path, "GET, DELETE"),
        (E::PortAddress(n), &Method::PUT) => {
            match name_in_path("name", n).and_then(|n| Ok((n, decode::<SetAddress>(&body)?))) {
                Ok((n, r)) => answer(ok, b.set_port_address(n, r).await),
                Err(e) => error_response(&e),
            }
        }
        (E::PortAddress(_), _) => method_not_allowed(&method, &path, "PUT"),
        (E::PortAdminState(n), &Method::PUT) => {
            match name_in_path("name", n).and_then(|n| Ok((n, decode::<SetAdminState>(&body)?))) {
                Ok((n, r)) => answer(ok, b.set_port_admin_state(n, r).await),
                Err(e) => error_response(&e),
            }
        }
        (E::PortAdminState(_), _) => method_not_allowed(&method, &path, "PUT"),

        (E::Routes, &Method::GET) => answer(ok, b.list_routes().await),
        (E::Routes, &Method::POST) => match decode::<Route>(&body) {
            Ok(r) => answer(created, b.add_route(r).await),
            Err(e) => error_response(&e),
        },
        (E::Routes, _) => method_not_allowed(&method, &path, "GET, POST"),
        (E::Route(a, l), &Method::DELETE) => match format!("{a}/{l}").parse::<Ipv4Prefix>() {
            Ok(p) => no_content(b.delete_route(p).await),
            Err(e) => error_response(&ApiError::invalid("prefix", e)),
        },
        (E::Route(..), _) => method_not_allowed(&method, &path, "DELETE"),

        (E::Neighbors, &Method::GET) => answer(ok, b.list_neighbors().await),
        (E::Neighbors, &Method::POST) => match decode::<Neighbor>(&body) {
            Ok(n) => answer(created, b.add_neighbor(n).await),
            Err(e) => error_response(&e),
        },
        (E::Neighbors, _) => method_not_allowed(&method, &path, "GET, POST"),
        (E::Neighbor(i, a), &Method::DELETE) => {
            let parsed = name_in_path("interface", i).and_then(|i| {
                let ip = a.parse::<Ipv4Addr>().map_err(|_| {
                    ApiError::invalid("address", format!("`{a}` is not an IPv4 address"))
                })?;
                Ok((i, ip))
            });
            match parsed {
                Ok((i, ip)) => no_content(b.delete_neighbor(i, ip).await),
                Err(e) => error_response(&e),
            }
        }
        (E::Neighbor(..), _) => method_not_allowed(&method, &path, "DELETE"),

        (E::Tunnels, &Method::GET) => answer(ok, b.list_tunnels().await),
        (E::Tunnels, &Method::POST) => match decode::<Tunnel>(&body) {
            Ok(t) => answer(created, b.add_tunnel(t).await),
            Err(e) => error_response(&e),
        },
        (E::Tunnels, _) => method_not_allowed(&method, &path, "GET, POST"),
        (E::Tunnel(n), &Method::DELETE) => match name_in_path("name", n) {
            Ok(n) => no_content(b.delete_tunnel(n).await),
            Err(e) => error_response(&e),
        },
        (E::Tunnel(_), _) => method_not_allowed(&method, &path, "DELETE"),

        (E::StatsPorts, &Method::GET) => answer(ok, b.port_stats().await),
        (E::StatsRuntime, &Method::GET) => {
            answer(ok, b.runtime_stats().await.map(RuntimeStats::from_workers))
        }
        (E::StatsErrors, &Method::GET) => {
            answer(ok, b.error_stats().await.map(ErrorStats::from_workers))
        }
        (E::StatsPorts | E::StatsRuntime | E::StatsErrors, _) => {
            method_not_allowed(&method, &path, "GET")
        }

        (E::Trace, &Method::POST) => match decode::<TraceRequest>(&body) {
            Ok(r) => answer(ok, b.trace(r).await),
            Err(e) => error_response(&e),
        },
        (E::Capture, &Method::POST) => match decode::<CaptureRequest>(&body) {
            Ok(r) => answer(ok, b.capture(r).await),
            Err(e) => error_response(&e),
        },
        (E::Trace | E::Capture, _) => method_not_allowed(&method, &path, "POST"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_names_the_failing_field() {
        let e = decode::<Route>(br#"{"prefix":"10.0.0.1/8","next_hops":[{"via":"1.1.1.1"}]}"#)
            .unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.field.as_deref(), Some("prefix"));
        assert!(e.message.contains("host bits"), "{e}");

        let e = decode::<Route>(br#"{"prefix":"10.0.0.0/8","next_hops":[{"via":"1.1.1"}]}"#)
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("next_hops[0].via"), "{e}");

        let e = decode::<Route>(br#"{"next_hops":[]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("prefix"), "{e}");
        assert!(e.message.contains("missing field"), "{e}");

        let e = decode::<Tunnel>(
            br#"{"name":"vx","vni":1,"local":"1.1.1.1","remote":"1.1.1.2","colour":1}"#,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("colour"), "{e}");

        // Validation runs after decoding.
        let e = decode::<Tunnel>(
            br#"{"name":"vx","vni":16777216,"local":"1.1.1.1","remote":"1.1.1.2"}"#,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("vni"), "{e}");

        let e = decode::<Route>(b"{not json").unwrap_err();
        assert_eq!((e.status, e.field.as_deref()), (400, None));
        let e = decode::<Route>(b"").unwrap_err();
        assert!(e.message.contains("empty"), "{e}");
        let e = decode::<SetAdminState>(br#"{"up":true} x"#).unwrap_err();
        assert!(e.message.contains("trailing"), "{e}");
    }

    #[test]
    fn paths_parse() {
        assert!(matches!(
            parse_path("/v1/ports/p0/"),
            Some(Endpoint::Port("p0"))
        ));
        assert!(matches!(
            parse_path("/v1/routes/10.0.0.0/8"),
            Some(Endpoint::Route("10.0.0.0", "8"))
        ));
        assert!(parse_path("/v2/ports").is_none());
        assert!(parse_path("/v1/ports/a/b/c").is_none());
    }
}
