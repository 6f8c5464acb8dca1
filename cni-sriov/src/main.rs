//! The `cni-sriov` binary: reads stdin and the environment, runs the command, prints the result
//! or error JSON, and exits with 0 or 1 as the CNI spec requires.

use std::io::{Read, Write};

fn main() -> anyhow::Result<()> {
    let mut stdin = Vec::new();
    // A closed or unreadable stdin is treated as empty, which the decoder reports as code 6.
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let out = cni_sriov::run(&|k| std::env::var(k).ok(), &stdin);
    let mut so = std::io::stdout().lock();
    if !out.stdout.is_empty() {
        writeln!(so, "{}", out.stdout)?;
    }
    so.flush()?;
    std::process::exit(out.exit);
}
