//! The strict tar header scanner (`archive::tar::Scanner`) over arbitrary bytes, then
//! the same bytes opened as an `oci-archive` and as a `docker-archive`
//! (`archive::reader::ArchiveLayout`), with every blob the index reaches read back.
#![no_main]

use std::io::{Cursor, Read};
use std::path::PathBuf;
use std::sync::OnceLock;

use airsign::archive::reader::ArchiveLayout;
use airsign::archive::tar::{BLOCK, EntryKind, Scanner, Streamed, clean_name};
use airsign::store::ReadLayout;
use airsign::store::manifest::{MAX_MANIFEST, parse};
use libfuzzer_sys::fuzz_target;

/// One scratch file per fuzzing process (ArchiveLayout opens a path), on tmpfs when
/// there is one.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("airsign-fuzz-tar-{}.tar", std::process::id()))
    })
}

fn scan(data: &[u8]) {
    let mut s = Scanner::new(Streamed(Cursor::new(data)));
    let mut last_end = 0u64;
    loop {
        match s.next_entry() {
            Ok(Some(e)) => {
                // Entries start on a block boundary, after the previous entry's data,
                // inside the input; names are already clean; only files carry data.
                assert_eq!(e.offset % BLOCK, 0, "{e:?}");
                assert!(
                    e.offset >= last_end + BLOCK,
                    "{e:?} overlaps the previous entry"
                );
                assert!(e.offset <= data.len() as u64, "{e:?} starts past the end");
                // (The archive root `./` is the one entry named "".)
                if !e.name.is_empty() {
                    assert_eq!(clean_name(&e.name).as_deref(), Ok(e.name.as_str()), "{e:?}");
                }
                if e.kind != EntryKind::File {
                    assert_eq!(e.size, 0, "{e:?}");
                }
                // Read half the entries' data, skip the others.
                if e.offset / BLOCK % 2 == 0 {
                    let mut buf = Vec::new();
                    match s.data().read_to_end(&mut buf) {
                        Ok(n) => assert_eq!(n as u64, e.size, "{e:?}"),
                        Err(_) => return, // truncated inside the data
                    }
                }
                last_end = e.offset + e.size;
            }
            Ok(None) => {
                // The end marker was checked: the position is the whole input.
                assert_eq!(s.position(), data.len() as u64);
                assert_eq!(s.next_entry().ok().flatten().map(|e| e.name), None);
                return;
            }
            Err(_) => return,
        }
    }
}

fn walk(layout: &ArchiveLayout) {
    let Ok(index) = layout.read_index() else {
        return;
    };
    let mut todo: Vec<_> = index.manifests;
    let mut seen = 0;
    while let Some(desc) = todo.pop() {
        seen += 1;
        if seen > 64 {
            return;
        }
        let Ok(raw) = layout.read_blob(&desc, MAX_MANIFEST) else {
            continue;
        };
        // read_blob checks size and digest.
        assert_eq!(raw.len() as u64, desc.size);
        assert!(desc.digest.matches(&raw));
        if let Ok(doc) = parse(&raw, &desc, "fuzz") {
            todo.extend(doc.children().into_iter().cloned());
        }
    }
    for (d, size) in layout.blob_list().into_iter().take(16) {
        assert_eq!(layout.blob_size(&d), Some(size));
        let _ = layout.peek(&d, 64);
        if let Ok(Some((mut r, n))) = layout.open_blob(&d) {
            assert_eq!(n, size);
            let mut buf = Vec::new();
            let _ = r.by_ref().take(1 << 20).read_to_end(&mut buf);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    scan(data);
    let path = scratch();
    if std::fs::write(path, data).is_err() {
        return;
    }
    if let Ok(layout) = ArchiveLayout::open(path) {
        walk(&layout);
    }
    if let Ok(layout) = ArchiveLayout::open_docker(path) {
        walk(&layout);
    }
});
