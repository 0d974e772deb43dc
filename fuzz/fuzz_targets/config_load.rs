//! Any text as `pipelines.yaml`: the loader must report errors, never panic or hang.
//!
//! The registry has the components whose validation touches nothing outside the process
//! (no `file` or `parquet` exporter, which create directories); TLS and token files named by
//! the input are only opened, and only regular files of bounded size are read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use weir_core::Registry;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut r = Registry::new();
        weir_receivers::register(&mut r);
        weir_processors::register(&mut r);
        r.add_exporter(weir_exporters::otlp::OtlpExporterFactory);
        r.add_exporter(weir_exporters::otlphttp::OtlpHttpExporterFactory);
        r.add_exporter(weir_exporters::debug::DebugExporterFactory);
        r.add_exporter(weir_exporters::nop::NopExporterFactory);
        weir_extensions::register(&mut r);
        r
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = |name: &str| (name.len() < 8).then(|| format!("v-{name}"));
    let _ = weir_core::config::load_str("fuzz.yaml", text, registry(), &env);
});
