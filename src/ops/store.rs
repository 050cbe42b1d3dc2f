//! stub
use std::path::Path;
pub fn init(_store: &Path) -> crate::Result<()> {
    todo!()
}
