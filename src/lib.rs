//! The `weir` package's library: the registry of every component this build has. The `weir`
//! binary and the `weir-simulate` tool both build their registry here, so they know the same
//! components.

use weir_core::Registry;

/// Every component this build has: one line per component crate.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    weir_receivers::register(&mut r);
    weir_processors::register(&mut r);
    weir_exporters::register(&mut r);
    weir_connectors::register(&mut r);
    weir_extensions::register(&mut r);
    r
}
