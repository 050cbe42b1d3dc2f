//! stub
use std::path::Path;
pub fn run(
    _store: &Path,
    _src: &str,
    _refs: &[String],
    _repo: Option<&str>,
    _json: bool,
) -> crate::Result<()> {
    todo!()
}
