//! stub
use std::path::Path;
pub fn run(_store: &Path, _json: bool, _jobs: Option<usize>) -> crate::Result<()> {
    todo!()
}
