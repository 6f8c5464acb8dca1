//! Finds the system DPDK with pkg-config, generates bindings with bindgen and builds the C
//! shim, both with pkg-config's own cflags (they carry `-include rte_config.h` and `-march`).

use std::env;
use std::path::PathBuf;
use std::process::Command;

const INSTALL_HINT: &str = "DPDK 22.11 development files were not found through pkg-config \
(package `libdpdk`). On Debian/Ubuntu install them with:\n    \
apt-get install libdpdk-dev dpdk dpdk-dev pkg-config clang libclang-dev\n\
or run `ci/setup.sh`, which also reserves hugepages. If DPDK lives elsewhere, point \
PKG_CONFIG_PATH at its libdpdk.pc.";

fn pkg_config(args: &[&str]) -> Result<String, String> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("libdpdk")
        .output()
        .map_err(|e| format!("cannot run pkg-config: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn fail(why: &str) -> ! {
    // A panic in a build script prints its message; make it the whole story.
    panic!("\n\nerror: {why}\n\n{INSTALL_HINT}\n\n");
}

fn main() {
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let version = pkg_config(&["--modversion"]).unwrap_or_else(|e| fail(&e));
    if !version.starts_with("22.11") {
        println!(
            "cargo:warning=DPDK {version} found; this crate is written and tested against 22.11 LTS"
        );
    }
    let cflags_line = pkg_config(&["--cflags"]).unwrap_or_else(|e| fail(&e));
    let cflags: Vec<String> = cflags_line.split_whitespace().map(str::to_string).collect();

    // Link with pkg-config's own library list (shared linkage: PMDs are loaded by the EAL
    // from its driver directory at init, so no driver library is named here).
    let libs = pkg_config(&["--libs"]).unwrap_or_else(|e| fail(&e));
    for tok in libs.split_whitespace() {
        if let Some(lib) = tok.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        } else if let Some(dir) = tok.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        }
        // `-Wl,--as-needed` is deliberately dropped: it is a property of the final link, and
        // the shim's references keep the needed libraries anyway.
    }

    // The C shim, with DPDK's flags and optimisation so wrapped calls stay cheap.
    let mut cc = cc::Build::new();
    cc.file("shim/shim.c")
        .include("shim")
        .opt_level(3)
        .warnings(true);
    for f in &cflags {
        cc.flag(f);
    }
    cc.compile("dpdk_shim");

    let bindings = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(&cflags)
        .allowlist_function("(rte|shim)_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("(RTE|SHIM)_.*")
        // Packed structs that hold aligned members: bindgen cannot give them a Rust layout.
        // They stay usable as opaque blobs; nothing here reads their fields.
        .opaque_type("rte_l2tpv2_.*")
        .opaque_type("rte_gtp_.*")
        .derive_default(true)
        .derive_debug(true)
        .layout_tests(true)
        .generate_comments(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen could not process the DPDK headers: {e}")));

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs into OUT_DIR");
}
