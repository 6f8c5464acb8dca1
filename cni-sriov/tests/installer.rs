//! The CNI installer's copy step (`conf/k8s/install-cni.sh`), run on this machine into a
//! temporary directory: it installs, is idempotent, and replaces a binary that is running.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/k8s/install-cni.sh")
}

fn install(src: &Path, dest: &Path) -> String {
    let out = Command::new("sh")
        .arg(script())
        .arg(src)
        .arg(dest)
        .output()
        .expect("run install-cni.sh");
    assert!(
        out.status.success(),
        "install-cni.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn installs_atomically_idempotently_and_over_a_running_binary() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("bin");
    std::fs::create_dir(&dest).unwrap();
    let installed = dest.join("cni-sriov");

    // A first version: /bin/sleep stands in for a plugin binary that can keep running.
    assert!(install(Path::new("/bin/sleep"), &dest).contains("installed"));
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read("/bin/sleep").unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&installed).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert!(
        install(Path::new("/bin/sleep"), &dest).contains("up to date"),
        "idempotent"
    );

    // Replace it while it runs: no "text file busy", the new file in place, the old process fine.
    let mut running = Command::new(&installed).arg("30").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(install(Path::new("/bin/true"), &dest).contains("installed"));
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read("/bin/true").unwrap()
    );
    assert!(
        running.try_wait().unwrap().is_none(),
        "the running old binary is undisturbed"
    );
    running.kill().unwrap();
    running.wait().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&dest)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("cni-sriov")],
        "no temporary file left"
    );

    // Refusals say why.
    let out = Command::new("sh")
        .arg(script())
        .arg("/nonexistent")
        .arg(&dest)
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no binary at"));
    let out = Command::new("sh")
        .arg(script())
        .arg("/bin/true")
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not a directory")
    );
}
