//! The messaging layer (placeholder).
pub struct PstWriter;
pub fn write_pst() {}
