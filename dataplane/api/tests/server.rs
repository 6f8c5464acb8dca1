//! The server on a real unix socket: socket file handling (mode 0600, directory made, stale
//! socket replaced, live one refused, foreign file kept), raw HTTP status codes and error
//! bodies, and how the client classifies each kind of failure.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;

use dp_api::server::BindError;
use dp_api::testing::{FakeBackend, TestServer};
use dp_api::{ApiError, Client, ClientError, CreatePort, DeviceSpec, ErrorBody};

/// Sends one raw HTTP/1.1 request and returns (status, body).
fn raw(path: &Path, method: &str, uri: &str, body: &str) -> (u16, String) {
    let mut s = UnixStream::connect(path).unwrap();
    write!(
        s,
        "{method} {uri} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

fn error_body(body: &str) -> ErrorBody {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not an error body ({e}): {body}"))
}

#[test]
fn socket_is_owner_only_in_a_created_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/dataplane/api.sock");
    let (server, _b) = TestServer::fake(&path).unwrap();
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // No temporary socket is left beside it.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["api.sock"]);
    server.stop();
    assert!(!path.exists(), "the socket file is removed on shutdown");
}

#[test]
fn stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.sock");
    // What a killed daemon leaves: a socket file nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(UnixStream::connect(&path).is_err());
    let (_server, _b) = TestServer::fake(&path).unwrap();
    let (status, _) = raw(&path, "GET", "/v1/status", "");
    assert_eq!(status, 200);
}

#[test]
fn live_socket_is_not_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.sock");
    let (_first, backend) = TestServer::fake(&path).unwrap();
    let e = TestServer::fake(&path).unwrap_err();
    assert!(matches!(e, BindError::AlreadyRunning { .. }), "{e:?}");
    assert!(e.to_string().contains("already serving"), "{e}");
    // The first server still answers on its socket.
    let (status, body) = raw(&path, "GET", "/v1/ports", "");
    assert_eq!((status, body.as_str()), (200, "[]"));
    assert_eq!(backend.ports().len(), 0);
}

#[test]
fn a_file_that_is_not_a_socket_is_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.sock");
    std::fs::write(&path, "precious").unwrap();
    let e = TestServer::fake(&path).unwrap_err();
    assert!(matches!(e, BindError::NotASocket { .. }), "{e:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[test]
fn raw_http_status_codes_and_error_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.sock");
    let (_server, _b) = TestServer::fake(&path).unwrap();

    let (s, b) = raw(
        &path,
        "POST",
        "/v1/routes",
        r#"{"prefix":"10.0.0.0/33","next_hops":[{"via":"10.0.0.1"}]}"#,
    );
    assert_eq!(s, 400);
    let e = error_body(&b);
    assert_eq!(e.field.as_deref(), Some("prefix"));
    assert!(e.error.starts_with("prefix: "), "{}", e.error);

    let (s, b) = raw(
        &path,
        "POST",
        "/v1/tunnels",
        r#"{"name":"vx","vni":16777216,"local":"10.0.0.1","remote":"10.0.0.2"}"#,
    );
    assert_eq!(s, 400);
    assert_eq!(error_body(&b).field.as_deref(), Some("vni"));

    let (s, b) = raw(&path, "POST", "/v1/ports", "{");
    assert_eq!(s, 400);
    assert!(error_body(&b).error.contains("invalid JSON"));

    let (s, b) = raw(&path, "DELETE", "/v1/ports/nope", "");
    assert_eq!(s, 404);
    assert!(error_body(&b).error.contains("nope"));

    let (s, b) = raw(&path, "DELETE", "/v1/routes/10.0.0.1/8", "");
    assert_eq!(s, 400);
    assert_eq!(error_body(&b).field.as_deref(), Some("prefix"));

    let (s, b) = raw(&path, "DELETE", "/v1/neighbors/p0/10.0.0", "");
    assert_eq!(s, 400);
    assert_eq!(error_body(&b).field.as_deref(), Some("address"));

    let (s, _) = raw(&path, "GET", "/v1/nothing", "");
    assert_eq!(s, 404);
    let (s, b) = raw(&path, "PATCH", "/v1/ports", "{}");
    assert_eq!(s, 405);
    assert!(error_body(&b).error.contains("GET, POST"));

    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(dp_api::server::MAX_BODY));
    let (s, _) = raw(&path, "POST", "/v1/ports", &big);
    assert_eq!(s, 413);

    let create = r#"{"name":"p0","device":{"kind":"dpdk","devargs":"net_null0"}}"#;
    let (s, b) = raw(&path, "POST", "/v1/ports", create);
    assert_eq!(s, 201, "{b}");
    let (s, b) = raw(&path, "POST", "/v1/ports", create);
    assert_eq!(s, 409);
    assert_eq!(error_body(&b).field.as_deref(), Some("name"));
    let (s, b) = raw(&path, "DELETE", "/v1/ports/p0", "");
    assert_eq!((s, b.as_str()), (204, ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_classifies_refusals_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.sock");
    let backend = Arc::new(FakeBackend::new());
    let server = dp_api::server::Server::bind(&path, backend.clone())
        .await
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stop_rx.await;
    }));
    let c = Client::new(&path);

    let req = CreatePort {
        name: "pod1".into(),
        device: DeviceSpec::Memif {
            socket: dir.path().join("pod1/memif.sock"),
            role: Default::default(),
            id: 0,
        },
        address: Some("10.0.1.1/24".parse().unwrap()),
        mtu: None,
        up: true,
    };
    let info = c.create_port(&req).await.unwrap();
    assert_eq!(info.name, "pod1");
    assert!(info.persistent, "pod ports are kept across restarts");

    match c.create_port(&req).await.unwrap_err() {
        ClientError::Refused {
            status,
            field,
            message,
        } => {
            assert_eq!(status, 409);
            assert_eq!(field.as_deref(), Some("name"));
            assert!(message.contains("exists already"), "{message}");
        }
        e => panic!("expected a refusal, got {e:?}"),
    }

    backend.fail_next(ApiError::internal("rte_dev_probe failed: -12"));
    let e = c.list_ports().await.unwrap_err();
    assert!(
        matches!(e, ClientError::Server { status: 500, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("rte_dev_probe failed"), "{e}");

    // The default trace of a backend that does not do it: a 501 is a server-side failure.
    backend.fail_next(ApiError::not_implemented("trace"));
    let e = c
        .trace(&dp_api::TraceRequest {
            count: 1,
            wait_ms: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(501));

    let _ = stop_tx.send(());
    task.await.unwrap();
    let e = c.status().await.unwrap_err();
    assert!(
        e.is_unreachable(),
        "after shutdown the daemon is reported down: {e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_request_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.sock");
    let server = dp_api::server::Server::bind(&path, Arc::new(FakeBackend::new()))
        .await
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stop_rx.await;
    }));
    let c = Client::new(&path);
    // With no port, the fake's trace waits its whole 400 ms for packets that never come.
    let started = std::time::Instant::now();
    let pending = tokio::spawn(async move {
        c.trace(&dp_api::TraceRequest {
            count: 3,
            wait_ms: 400,
        })
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let _ = stop_tx.send(());
    // The socket goes away at once, so new clients see the daemon down...
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!path.exists(), "socket removed as soon as shutdown starts");
    // ...while the request in flight still gets its answer.
    let got = pending.await.unwrap().unwrap();
    assert!(got.packets.is_empty());
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
    task.await.unwrap();
}

#[test]
fn blocking_client_works_from_synchronous_code() {
    // How cni-sriov calls the API: no runtime of its own, one call at a time.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.sock");
    let (_server, backend) = TestServer::fake(&path).unwrap();
    let c = Client::new(&path);
    let req = CreatePort {
        name: "pod7".into(),
        device: DeviceSpec::VhostUser {
            socket: dir.path().join("pod7/vhost.sock"),
            mode: dp_api::VhostMode::Server,
        },
        address: None,
        mtu: Some(1400),
        up: true,
    };
    let info = dp_api::client::block_on(c.create_port(&req)).unwrap();
    assert_eq!(info.mtu, Some(1400));
    assert_eq!(backend.ports().len(), 1);
    let e = dp_api::client::block_on(c.delete_port("pod8")).unwrap_err();
    assert_eq!(e.status(), Some(404));
    dp_api::client::block_on(c.delete_port("pod7")).unwrap();
    assert!(backend.ports().is_empty());
}
