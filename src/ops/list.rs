//! stub
use std::path::Path;
pub fn run(_store: &Path, _json: bool) -> crate::Result<()> {
    todo!()
}
