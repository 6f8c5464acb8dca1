//! `dpctl`: the dataplane's command-line client. It talks to the daemon's API over its unix
//! socket (`--socket`, default `/run/dataplane/api.sock`) and links no DPDK.
//!
//! Output is a human table by default (like VPP's `show` commands) and the API's JSON with
//! `--json`. A failure is one line on stderr that says whether the daemon is down or refused
//! the request and why, and the exit code tells scripts which (see [`EXIT_CODES`]).

#![forbid(unsafe_code)]

mod render;
mod table;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use dp_api::client::DEFAULT_SOCKET;
use dp_api::{
    CaptureDirection, CaptureRequest, Client, ClientError, CreatePort, DeviceSpec, Ipv4Cidr,
    Ipv4Prefix, MacAddr, MemifRole, Neighbor, NextHop, Route, TraceRequest, Tunnel, VhostMode,
};

/// Shown under `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  the dataplane refused the request (its reason is printed) or failed doing it
  2  usage error: bad arguments or values (nothing was sent)
  3  the dataplane is unreachable: no socket, connection refused, or no answer";

/// Exit code when the daemon refused or failed the request.
const EXIT_REFUSED: u8 = 1;
/// Exit code for bad arguments (clap uses it too).
const EXIT_USAGE: u8 = 2;
/// Exit code when the daemon cannot be reached.
const EXIT_UNREACHABLE: u8 = 3;

/// Control the dataplane: show its state, change routes, neighbors, tunnels and ports.
#[derive(Debug, Parser)]
#[command(name = "dpctl", version, after_help = EXIT_CODES)]
struct Cli {
    /// The dataplane's API socket.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_SOCKET, env = "DPCTL_SOCKET")]
    socket: PathBuf,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Give up on a dataplane that does not answer within this many seconds.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30)]
    timeout: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Show state and counters.
    #[command(subcommand)]
    Show(Show),
    /// Create, delete and change ports.
    #[command(subcommand)]
    Port(PortCmd),
    /// Add and delete routes.
    #[command(subcommand)]
    Route(RouteCmd),
    /// Add and delete static neighbors (ARP entries).
    #[command(subcommand, alias = "neigh")]
    Neighbor(NeighborCmd),
    /// Add and delete VXLAN tunnels.
    #[command(subcommand)]
    Tunnel(TunnelCmd),
    /// Follow the next COUNT packets through the graph's nodes.
    Trace {
        /// How many packets (1 to 1000).
        count: u32,
        /// Seconds to wait for them.
        #[arg(long, default_value_t = 1.0, value_name = "SECS")]
        wait: f64,
    },
    /// Write packets of a port to a pcapng file (on the dataplane's host).
    Capture(CaptureArgs),
    /// Is the dataplane there, and which version.
    Status,
}

#[derive(Debug, Subcommand)]
enum Show {
    /// Ports: state, address, counters, the offloads their device does, device.
    #[command(alias = "int", alias = "interface", alias = "ports")]
    Interfaces,
    /// Per-node calls, vectors, packets, clocks per packet, per worker (and summed).
    Runtime,
    /// Drops and errors by node and reason.
    Errors {
        /// One table per worker instead of the sum.
        #[arg(long)]
        per_worker: bool,
    },
    /// The forwarding table.
    #[command(alias = "routes")]
    Fib,
    /// The neighbor (ARP) table.
    #[command(alias = "neigh")]
    Neighbors,
    /// VXLAN tunnels.
    Tunnels,
}

#[derive(Debug, Subcommand)]
enum PortCmd {
    /// Create a port: a DPDK device string, or a memif or vhost-user socket for a pod.
    Add(PortAdd),
    /// Delete a port.
    #[command(alias = "delete")]
    Del {
        /// The port's name.
        name: String,
    },
    /// Change a port: `address CIDR|none`, `up`, `down`.
    Set {
        /// The port's name.
        name: String,
        #[command(subcommand)]
        what: PortSet,
    },
}

#[derive(Debug, Subcommand)]
enum PortSet {
    /// Set the address (`10.0.1.1/24`), or remove it (`none`).
    Address {
        /// ADDRESS/LENGTH or `none`.
        address: String,
    },
    /// Bring the port up.
    Up,
    /// Bring the port down.
    Down,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Side {
    Server,
    Client,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("kind").required(true).args(["device", "memif", "vhost_user"])))]
struct PortAdd {
    /// The port's name.
    name: String,
    /// A DPDK device string: a vdev with its arguments (`net_tap0,iface=tap0`) or a PCI address.
    #[arg(long, value_name = "DEVARGS")]
    device: Option<String>,
    /// A memif port on this socket file.
    #[arg(long, value_name = "SOCKET")]
    memif: Option<PathBuf>,
    /// A vhost-user port on this socket file.
    #[arg(long, value_name = "SOCKET")]
    vhost_user: Option<PathBuf>,
    /// The dataplane side's memif role (server creates the socket).
    #[arg(long, value_enum, requires = "memif", conflicts_with_all = ["device", "vhost_user"])]
    role: Option<Side>,
    /// The memif interface id.
    #[arg(long, requires = "memif", conflicts_with_all = ["device", "vhost_user"])]
    id: Option<u32>,
    /// The dataplane side's vhost-user mode (server creates the socket).
    #[arg(long, value_enum, requires = "vhost_user", conflicts_with_all = ["device", "memif"])]
    mode: Option<Side>,
    /// The port's address (ADDRESS/LENGTH).
    #[arg(long)]
    address: Option<Ipv4Cidr>,
    /// The port's MTU.
    #[arg(long)]
    mtu: Option<u16>,
    /// Create it administratively down.
    #[arg(long)]
    down: bool,
}

#[derive(Debug, Subcommand)]
enum RouteCmd {
    /// Add a route: `route add PREFIX via GW [dev IF] [via GW2 [dev IF2]]...` (several
    /// next hops = ECMP); `dev IF` alone sends to the destination on that link.
    Add {
        /// Destination prefix (`10.0.2.0/24`).
        prefix: Ipv4Prefix,
        /// Next hops: `via GATEWAY`, `dev INTERFACE`, or both, repeated for ECMP.
        #[arg(required = true, num_args = 1.., value_name = "via GW | dev IF")]
        hops: Vec<String>,
    },
    /// Delete the route for a prefix.
    #[command(alias = "delete")]
    Del {
        /// Destination prefix.
        prefix: Ipv4Prefix,
    },
}

#[derive(Debug, Subcommand)]
enum NeighborCmd {
    /// Add a static neighbor: `neighbor add IP MAC --dev IF`.
    Add {
        /// Its IPv4 address.
        address: Ipv4Addr,
        /// Its MAC address.
        mac: MacAddr,
        /// The port or tunnel it is on.
        #[arg(long)]
        dev: String,
    },
    /// Delete a neighbor: `neighbor del IP --dev IF`.
    #[command(alias = "delete")]
    Del {
        /// Its IPv4 address.
        address: Ipv4Addr,
        /// The port or tunnel it is on.
        #[arg(long)]
        dev: String,
    },
}

#[derive(Debug, Subcommand)]
enum TunnelCmd {
    /// Add a VXLAN tunnel interface.
    Add {
        /// The tunnel interface's name.
        name: String,
        /// VXLAN network identifier (0 to 16777215).
        #[arg(long)]
        vni: u32,
        /// Our VTEP address (one of our port addresses).
        #[arg(long)]
        local: Ipv4Addr,
        /// The remote VTEP.
        #[arg(long)]
        remote: Ipv4Addr,
        /// Outer UDP destination port.
        #[arg(long, default_value_t = dp_api::VXLAN_UDP_PORT)]
        udp_port: u16,
        /// The tunnel interface's address (ADDRESS/LENGTH).
        #[arg(long)]
        address: Option<Ipv4Cidr>,
    },
    /// Delete a tunnel.
    #[command(alias = "delete")]
    Del {
        /// The tunnel's name.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Dir {
    Rx,
    Tx,
    Drop,
}

#[derive(Debug, Args)]
struct CaptureArgs {
    /// The port to capture on.
    #[arg(long)]
    port: String,
    /// Which packets.
    #[arg(long, value_enum)]
    dir: Dir,
    /// How many packets at most.
    #[arg(long)]
    count: u32,
    /// The pcapng file to write (made absolute; written by the dataplane).
    #[arg(long)]
    out: PathBuf,
    /// How many bytes of file at most.
    #[arg(long, default_value_t = 64 << 20)]
    max_bytes: u64,
    /// Seconds to wait for the packets.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    wait: f64,
}

/// Prints a usage error the way clap does and exits 2.
fn usage(msg: impl std::fmt::Display) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, msg)
        .exit()
}

/// Parses `via GW [dev IF]` / `dev IF` groups into next hops.
fn parse_hops(words: &[String]) -> Result<Vec<NextHop>, String> {
    let mut hops: Vec<NextHop> = Vec::new();
    let mut words = words.iter();
    while let Some(w) = words.next() {
        let value = words.next().ok_or_else(|| format!("`{w}` needs a value"))?;
        match w.as_str() {
            "via" => {
                let via = value
                    .parse::<Ipv4Addr>()
                    .map_err(|_| format!("`{value}` after `via` is not an IPv4 address"))?;
                hops.push(NextHop {
                    via: Some(via),
                    interface: None,
                });
            }
            "dev" => match hops.last_mut() {
                // `dev` completes the `via` just before it, or starts an interface-only hop.
                Some(h) if h.interface.is_none() => h.interface = Some(value.clone()),
                _ => hops.push(NextHop {
                    via: None,
                    interface: Some(value.clone()),
                }),
            },
            other => {
                return Err(format!(
                    "unexpected `{other}`: next hops are `via GATEWAY` and/or `dev INTERFACE`"
                ));
            }
        }
    }
    Ok(hops)
}

fn seconds(field: &str, s: f64) -> u64 {
    if !(0.0..=600.0).contains(&s) {
        usage(format!("--{field} must be between 0 and 600 seconds"));
    }
    (s * 1000.0) as u64
}

fn side_memif(s: Option<Side>) -> MemifRole {
    match s {
        Some(Side::Client) => MemifRole::Client,
        _ => MemifRole::Server,
    }
}

fn side_vhost(s: Option<Side>) -> VhostMode {
    match s {
        Some(Side::Client) => VhostMode::Client,
        _ => VhostMode::Server,
    }
}

/// Runs one command; human or JSON output goes to stdout.
async fn run(cli: Cli) -> Result<(), ClientError> {
    let c = Client::new(&cli.socket).with_timeout(Duration::from_secs(cli.timeout));
    let out = render::Output { json: cli.json };
    match cli.cmd {
        Cmd::Show(what) => match what {
            Show::Interfaces => {
                let ports = c.list_ports().await?;
                let stats = c.port_stats().await?;
                out.interfaces(&ports, &stats);
            }
            Show::Runtime => out.runtime(&c.runtime_stats().await?),
            Show::Errors { per_worker } => out.errors(&c.error_stats().await?, per_worker),
            Show::Fib => out.fib(&c.list_routes().await?),
            Show::Neighbors => out.neighbors(&c.list_neighbors().await?),
            Show::Tunnels => out.tunnels(&c.list_tunnels().await?),
        },
        Cmd::Port(PortCmd::Add(a)) => {
            let device = match (a.device, a.memif, a.vhost_user) {
                (Some(devargs), _, _) => DeviceSpec::Dpdk { devargs },
                (_, Some(socket), _) => DeviceSpec::Memif {
                    socket: absolute(socket),
                    role: side_memif(a.role),
                    id: a.id.unwrap_or(0),
                },
                (_, _, Some(socket)) => DeviceSpec::VhostUser {
                    socket: absolute(socket),
                    mode: side_vhost(a.mode),
                },
                // The required arg group makes this unreachable; say so if it ever is not.
                (None, None, None) => usage("one of --device, --memif, --vhost-user is needed"),
            };
            let req = CreatePort {
                name: a.name,
                device,
                address: a.address,
                mtu: a.mtu,
                up: !a.down,
            };
            let p = c.create_port(&req).await?;
            out.done(
                &p,
                &format!("port {} created ({})", p.name, p.device.kind()),
            );
        }
        Cmd::Port(PortCmd::Del { name }) => {
            c.delete_port(&name).await?;
            out.deleted(&format!("port {name}"));
        }
        Cmd::Port(PortCmd::Set { name, what }) => {
            let p = match what {
                PortSet::Address { address } => {
                    let address = if address == "none" {
                        None
                    } else {
                        Some(address.parse::<Ipv4Cidr>().unwrap_or_else(|e| usage(e)))
                    };
                    c.set_port_address(&name, address).await?
                }
                PortSet::Up => c.set_port_up(&name, true).await?,
                PortSet::Down => c.set_port_up(&name, false).await?,
            };
            let addr = p
                .address
                .map_or("no address".to_string(), |a| a.to_string());
            let state = if p.admin_up { "up" } else { "down" };
            out.done(&p, &format!("port {}: {state}, {addr}", p.name));
        }
        Cmd::Route(RouteCmd::Add { prefix, hops }) => {
            let next_hops = parse_hops(&hops).unwrap_or_else(|e| usage(e));
            let r = c.add_route(&Route { prefix, next_hops }).await?;
            let hops: Vec<String> = r.next_hops.iter().map(ToString::to_string).collect();
            out.done(
                &r,
                &format!("route {} added: {}", r.prefix, hops.join(", ")),
            );
        }
        Cmd::Route(RouteCmd::Del { prefix }) => {
            c.delete_route(prefix).await?;
            out.deleted(&format!("route {prefix}"));
        }
        Cmd::Neighbor(NeighborCmd::Add { address, mac, dev }) => {
            let n = c
                .add_neighbor(&Neighbor {
                    address,
                    mac,
                    interface: dev,
                })
                .await?;
            out.done(
                &n,
                &format!(
                    "neighbor {} at {} on {} added",
                    n.address, n.mac, n.interface
                ),
            );
        }
        Cmd::Neighbor(NeighborCmd::Del { address, dev }) => {
            c.delete_neighbor(&dev, address).await?;
            out.deleted(&format!("neighbor {address} on {dev}"));
        }
        Cmd::Tunnel(TunnelCmd::Add {
            name,
            vni,
            local,
            remote,
            udp_port,
            address,
        }) => {
            let t = c
                .add_tunnel(&Tunnel {
                    name,
                    vni,
                    local,
                    remote,
                    udp_port,
                    address,
                })
                .await?;
            out.done(
                &t,
                &format!(
                    "tunnel {} added: VNI {}, {} -> {}",
                    t.name, t.vni, t.local, t.remote
                ),
            );
        }
        Cmd::Tunnel(TunnelCmd::Del { name }) => {
            c.delete_tunnel(&name).await?;
            out.deleted(&format!("tunnel {name}"));
        }
        Cmd::Trace { count, wait } => {
            let wait_ms = seconds("wait", wait);
            out.trace(&c.trace(&TraceRequest { count, wait_ms }).await?);
        }
        Cmd::Capture(a) => {
            let req = CaptureRequest {
                port: a.port,
                direction: match a.dir {
                    Dir::Rx => CaptureDirection::Rx,
                    Dir::Tx => CaptureDirection::Tx,
                    Dir::Drop => CaptureDirection::Drop,
                },
                count: a.count,
                max_bytes: a.max_bytes,
                file: absolute(a.out),
                wait_ms: seconds("wait", a.wait),
            };
            let r = c.capture(&req).await?;
            out.done(
                &r,
                &format!(
                    "captured {} packets ({} bytes) to {}",
                    r.packets,
                    r.bytes,
                    r.file.display()
                ),
            );
        }
        Cmd::Status => {
            let s = c.status().await?;
            out.done(
                &s,
                &format!(
                    "dataplane is running: API {}, version {}, socket {}",
                    s.api,
                    s.version,
                    cli.socket.display()
                ),
            );
        }
    }
    Ok(())
}

/// The daemon resolves paths from its own working directory: send absolute ones.
fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        return p;
    }
    std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dpctl: cannot start: {e}");
            return ExitCode::from(EXIT_REFUSED);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dpctl: {e}");
            ExitCode::from(match e {
                ClientError::Unreachable { .. } | ClientError::Timeout { .. } => EXIT_UNREACHABLE,
                ClientError::Invalid(_) => EXIT_USAGE,
                ClientError::Refused { .. }
                | ClientError::Server { .. }
                | ClientError::Protocol(_) => EXIT_REFUSED,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn next_hops_parse_like_ip_route() {
        let h = parse_hops(&words("via 10.0.0.1 dev p0 via 10.0.0.2 dev p1")).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].to_string(), "via 10.0.0.1 dev p0");
        assert_eq!(h[1].to_string(), "via 10.0.0.2 dev p1");
        let h = parse_hops(&words("dev p0 dev p1 via 10.0.0.9")).unwrap();
        assert_eq!(
            h.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["dev p0", "dev p1", "via 10.0.0.9"]
        );
        assert!(
            parse_hops(&words("via"))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse_hops(&words("via 10.0.0"))
                .unwrap_err()
                .contains("not an IPv4")
        );
        assert!(
            parse_hops(&words("gw 10.0.0.1"))
                .unwrap_err()
                .contains("unexpected")
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
