//! Encoders on ONNX Runtime: sentence encoders for captions and criteria, CLIP for images.

pub mod image;
pub mod runtime;
pub mod text;
