//! Image folders: finding the images, decoding them robustly, and their labels.

pub mod decode;
pub mod discover;
pub mod labels;

pub use decode::{decode_file, DecodeError, DecodeLimits};
pub use discover::{discover, Discovery, ImageFile, IMAGE_EXTENSIONS};
pub use labels::{LabelError, LabelTable, PathMap};
