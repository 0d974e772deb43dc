//! The receiver end to end inside the process: a local HTTP target, the receiver, a
//! collecting exporter.
