//! Builds tar archives byte by byte (ustar headers with checksums, PAX extended
//! headers, GNU long names) and zstd frames (raw and RLE blocks), so the tests can
//! make archives no well-behaved writer would: links, lies about sizes, truncation,
//! bombs. Shared by `tests/hostile_archives.rs` and `tests/archive_read.rs`.
#![allow(dead_code)]

use std::path::Path;

pub const BLOCK: usize = 512;

#[derive(Default)]
pub struct Tar {
    pub buf: Vec<u8>,
}

/// A ustar (POSIX) header; `gnu` writes GNU's magic instead.
pub fn header(name: &[u8], typeflag: u8, size: u64, linkname: &[u8], gnu: bool) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    if size < 8u64.pow(11) {
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    } else {
        // GNU base-256, as tar does for sizes of 8 GiB and more.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = typeflag;
    h[157..157 + linkname.len().min(100)].copy_from_slice(&linkname[..linkname.len().min(100)]);
    if gnu {
        h[257..265].copy_from_slice(b"ustar  \0");
    } else {
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
    }
    set_checksum(&mut h);
    h
}

pub fn set_checksum(h: &mut [u8; BLOCK]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

impl Tar {
    pub fn new() -> Tar {
        Tar::default()
    }

    /// Appends bytes and pads to a block.
    pub fn data(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        let pad = (BLOCK - bytes.len() % BLOCK) % BLOCK;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        let h = header(name.as_bytes(), b'0', data.len() as u64, b"", false);
        self.raw(&h).data(data)
    }

    /// A blob at `blobs/sha256/<its digest>`; returns the digest.
    pub fn blob(&mut self, data: &[u8]) -> String {
        let d = sha256_hex(data);
        self.file(&format!("blobs/sha256/{d}"), data);
        format!("sha256:{d}")
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        let h = header(name.as_bytes(), b'5', 0, b"", false);
        self.raw(&h)
    }

    pub fn link(&mut self, name: &str, typeflag: u8, target: &str) -> &mut Self {
        let h = header(name.as_bytes(), typeflag, 0, target.as_bytes(), false);
        self.raw(&h)
    }

    /// A PAX `x` header with these records, for the entry that follows.
    pub fn pax(&mut self, records: &[(&str, &str)]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = format!(" {k}={v}\n");
            // The length counts its own digits.
            let mut n = rest.len() + 1;
            while format!("{n}{rest}").len() != n {
                n += 1;
            }
            body.extend_from_slice(format!("{n}{rest}").as_bytes());
        }
        let h = header(b"PaxHeaders/x", b'x', body.len() as u64, b"", false);
        self.raw(&h).data(&body)
    }

    /// A GNU `L` long-name entry for the entry that follows.
    pub fn gnu_long_name(&mut self, name: &str) -> &mut Self {
        let mut body = name.as_bytes().to_vec();
        body.push(0);
        let h = header(b"././@LongLink", b'L', body.len() as u64, b"", true);
        self.raw(&h).data(&body)
    }

    /// The two zero blocks that end an archive.
    pub fn end(&mut self) -> &mut Self {
        self.buf.extend(std::iter::repeat_n(0u8, 2 * BLOCK));
        self
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, &self.buf).unwrap();
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The tar of an OCI layout directory, as a well-behaved writer makes it
/// (`oci-layout`, `index.json`, then `blobs/<alg>/<hex>` sorted; no end blocks).
pub fn layout_tar(dir: &Path) -> Tar {
    let mut t = Tar::new();
    t.file(
        "oci-layout",
        &std::fs::read(dir.join("oci-layout")).unwrap(),
    );
    t.file(
        "index.json",
        &std::fs::read(dir.join("index.json")).unwrap(),
    );
    t.dir("blobs/");
    for alg in ["sha256", "sha512"] {
        let d = dir.join("blobs").join(alg);
        if !d.exists() {
            continue;
        }
        t.dir(&format!("blobs/{alg}/"));
        let mut names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        for n in names {
            t.file(
                &format!("blobs/{alg}/{n}"),
                &std::fs::read(d.join(&n)).unwrap(),
            );
        }
    }
    t
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// 128 KiB, the largest zstd block.
pub const ZSTD_BLOCK: usize = 128 * 1024;

/// A zstd frame header with no content size, no checksum and a `2^window_log` window.
fn frame_header(window_log: u8) -> Vec<u8> {
    let mut f = ZSTD_MAGIC.to_vec();
    f.push(0); // frame header descriptor: nothing optional
    f.push((window_log - 10) << 3); // window descriptor, mantissa 0
    f
}

fn block_header(last: bool, kind: u32, size: usize) -> [u8; 3] {
    let v = u32::from(last) | (kind << 1) | ((size as u32) << 3);
    [v as u8, (v >> 8) as u8, (v >> 16) as u8]
}

/// Zstd parts: bytes stored as raw blocks, or runs of zeros as RLE blocks.
pub enum Z<'a> {
    Raw(&'a [u8]),
    Zeros(u64),
}

/// One zstd frame (128 KiB window) holding `parts`, uncompressed ("raw" blocks)
/// except for zero runs: any data becomes a valid .zst without an encoder.
pub fn zstd(parts: &[Z<'_>]) -> Vec<u8> {
    zstd_with_window(parts, 17)
}

pub fn zstd_with_window(parts: &[Z<'_>], window_log: u8) -> Vec<u8> {
    let mut blocks: Vec<(u32, Vec<u8>, usize)> = Vec::new();
    for p in parts {
        match p {
            Z::Raw(bytes) => {
                for chunk in bytes.chunks(ZSTD_BLOCK) {
                    blocks.push((0, chunk.to_vec(), chunk.len()));
                }
            }
            Z::Zeros(n) => {
                let mut left = *n;
                while left > 0 {
                    let k = left.min(ZSTD_BLOCK as u64) as usize;
                    blocks.push((1, vec![0], k));
                    left -= k as u64;
                }
            }
        }
    }
    if blocks.is_empty() {
        blocks.push((0, Vec::new(), 0));
    }
    let mut out = frame_header(window_log);
    let last = blocks.len() - 1;
    for (i, (kind, body, size)) in blocks.into_iter().enumerate() {
        out.extend_from_slice(&block_header(i == last, kind, size));
        out.extend_from_slice(&body);
    }
    out
}
