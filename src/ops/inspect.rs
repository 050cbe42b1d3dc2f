//! stub
use std::path::Path;
pub fn run(_store: &Path, _image: &str) -> crate::Result<()> {
    todo!()
}
