//! Includes the plugin author guide (`docs/plugin-authors.md`, outside this
//! crate's folder) as the `guide` module when it is there: in the authhost
//! repository, where its code blocks run as doctests. A packaged copy of the
//! crate builds without it.

fn main() {
    let guide = std::path::Path::new("../docs/plugin-authors.md");
    println!("cargo::rustc-check-cfg=cfg(authhost_guide)");
    println!("cargo::rerun-if-changed=../docs/plugin-authors.md");
    if guide.is_file() {
        println!("cargo::rustc-cfg=authhost_guide");
    }
}
