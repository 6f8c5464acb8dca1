//! `dataplane`: the kernel-bypass packet dataplane daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dataplane::config::Config;

/// Kernel-bypass packet dataplane on DPDK.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The TOML configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Check the configuration and exit without starting DPDK.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dataplane: error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("{}: ok", args.config.display());
        return ExitCode::SUCCESS;
    }
    match dataplane::daemon::run(cfg, &args.config) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dataplane: error: {e}");
            ExitCode::FAILURE
        }
    }
}
