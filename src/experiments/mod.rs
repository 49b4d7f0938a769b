//! What users run beside their own queries: the IC|TC baseline (2N+1 LLM calls), the ablation
//! table, and the built-in demo.

pub mod ablation;
pub mod carry_over;
pub mod demo;
pub mod ictc;
