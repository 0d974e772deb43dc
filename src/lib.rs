//! The `weir` package's library: the registry of every component this build has (the `weir`
//! binary and the `weir-simulate` tool both build their registry here, so they know the same
//! components), and weir's own telemetry (`service::telemetry`: [`self_telemetry`]).

use weir_core::Registry;

pub mod self_telemetry;

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
