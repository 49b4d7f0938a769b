//! Small helpers with no domain of their own: files, formats, paths, progress bars.

pub mod allocator;
pub mod fs;
pub mod jsonl;
pub mod npy;
pub mod paths;
pub mod progress;
pub mod redact;
