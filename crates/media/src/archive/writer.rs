//! Deterministic tar output, streamed.
//!
//! The bytes depend only on the entries written, in the order written: every header
//! has mode 0644, uid/gid 0, empty owner names, mtime 0 and POSIX `ustar` magic;
//! there are no directory entries (readers create parents; the safe archive reader
//! accepts only regular files); a PAX `x` header appears only where ustar cannot say
//! something — a name over 100 bytes (`blobs/sha512/<hex>`) or a size of 8 GiB or
//! more — and then, as Go's `archive/tar` writes, the ustar size field of the entry
//! holds 0 and the PAX `size` is the truth. The archive ends with two zero blocks and
//! is not padded to a record size.
//!
//! [`TarWriter`] runs a two-stage pipeline so hashing and writing overlap: the
//! calling thread reads each blob into a pooled chunk and hashes it there; a second
//! thread writes the chunks out (through zstd when asked). Memory is bounded by
//! [`CHUNKS`] × [`CHUNK`], whatever the blob sizes.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::digest::Digest;
use crate::verify::VerifyingReader;
use crate::{Error, Result};

/// One tar block.
pub const BLOCK: u64 = 512;
/// Largest size the 11 octal digits of a ustar header hold (8 GiB − 1).
pub const USTAR_MAX_SIZE: u64 = 0o777_7777_7777;
/// Size of one pipeline chunk: large reads amortise syscalls.
pub const CHUNK: usize = 1024 * 1024;
/// Chunks in flight between the reading and the writing thread.
pub const CHUNKS: usize = 4;

/// The archive's end: two zero blocks.
const END: [u8; 1024] = [0; 1024];

/// Bytes of zero padding after `n` bytes of entry data.
pub fn padding(n: u64) -> u64 {
    (BLOCK - n % BLOCK) % BLOCK
}

/// How many archive bytes an entry named `path` of `size` bytes takes, headers and
/// padding included.
pub fn entry_len(path: &str, size: u64) -> u64 {
    header_len(path, size) + size + padding(size)
}

/// The archive's length for these entries: sum of [`entry_len`] plus the end blocks.
pub fn archive_len<'a>(entries: impl IntoIterator<Item = (&'a str, u64)>) -> u64 {
    entries
        .into_iter()
        .map(|(p, s)| entry_len(p, s))
        .sum::<u64>()
        + END.len() as u64
}

fn header_len(path: &str, size: u64) -> u64 {
    match pax_records(path, size) {
        Some(r) => 2 * BLOCK + r.len() as u64 + padding(r.len() as u64),
        None => BLOCK,
    }
}

/// The header block(s) of a regular file: a PAX header first when needed.
pub fn header(path: &str, size: u64) -> Vec<u8> {
    assert!(
        !path.is_empty() && path.is_ascii() && !path.contains('\0'),
        "archive paths are ASCII"
    );
    let mut out = Vec::with_capacity(BLOCK as usize);
    let records = pax_records(path, size);
    if let Some(r) = &records {
        // The PAX header's own name only matters to readers that do not know PAX;
        // keep it short, stable and inside the archive's tree.
        let base = path.rsplit('/').next().unwrap_or(path);
        let name = format!("PaxHeaders/{}", &base[..base.len().min(88)]);
        out.extend_from_slice(&ustar(&name, r.len() as u64, b'x'));
        out.extend_from_slice(r.as_bytes());
        out.resize(out.len() + padding(r.len() as u64) as usize, 0);
    }
    let name = &path[..path.len().min(100)];
    let field_size = if size > USTAR_MAX_SIZE { 0 } else { size };
    out.extend_from_slice(&ustar(name, field_size, b'0'));
    out
}

/// The PAX records an entry needs, sorted by key; `None` if plain ustar suffices.
fn pax_records(path: &str, size: u64) -> Option<String> {
    let mut r = String::new();
    if path.len() > 100 {
        r.push_str(&pax_record("path", path));
    }
    if size > USTAR_MAX_SIZE {
        r.push_str(&pax_record("size", &size.to_string()));
    }
    (!r.is_empty()).then_some(r)
}

/// `"<len> <key>=<value>\n"`, where `<len>` counts the whole record, itself included.
fn pax_record(key: &str, value: &str) -> String {
    let base = key.len() + value.len() + 3;
    let mut len = base + 1;
    loop {
        let total = base + len.to_string().len();
        if total == len {
            break;
        }
        len = total;
    }
    format!("{len} {key}={value}\n")
}

/// One POSIX ustar header block with the fixed metadata.
fn ustar(name: &str, size: u64, typeflag: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644); // mode
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0); // mtime
    h[148..156].copy_from_slice(b"        "); // checksum, as spaces while summing
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // uname, gname (265..329) stay empty
    octal(&mut h[329..337], 0); // devmajor
    octal(&mut h[337..345], 0); // devminor
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// Zero-padded octal digits filling all but the field's last byte, which is NUL.
fn octal(field: &mut [u8], v: u64) {
    let digits = format!("{v:0width$o}", width = field.len() - 1);
    debug_assert_eq!(digits.len(), field.len() - 1, "value fits its field");
    field[..digits.len()].copy_from_slice(digits.as_bytes());
    field[field.len() - 1] = 0;
}

/// Compression of the archive stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    /// One zstd frame at this level (1–19), with a content checksum.
    Zstd {
        level: i32,
    },
}

impl Compression {
    /// zstd at the `zstd` tool's default level.
    pub const ZSTD: Compression = Compression::Zstd {
        level: ZSTD_DEFAULT_LEVEL,
    };

    pub fn is_zstd(self) -> bool {
        matches!(self, Compression::Zstd { .. })
    }
}

/// `zstd`'s default level, and `export --compress zstd`'s.
pub const ZSTD_DEFAULT_LEVEL: i32 = 3;
/// The levels `--compress-level` takes: 1 to 19, as `zstd` without `--ultra`.
pub const ZSTD_LEVELS: std::ops::RangeInclusive<i32> = 1..=19;

/// A chunk on its way to the writing thread: the buffer and how much of it is filled.
type Chunk = (Vec<u8>, usize);

/// Writes a tar stream into `S` (a file, a set of parts, a `Vec` in tests) on a
/// second thread. Dropping it without [`TarWriter::finish`] stops that thread and
/// drops `S` (an [`super::output::Output`] then removes its temp files).
pub struct TarWriter<S: Write + Send + 'static> {
    tx: Option<SyncSender<Chunk>>,
    free: Receiver<Vec<u8>>,
    allocated: usize,
    cur: Vec<u8>,
    filled: usize,
    handle: Option<JoinHandle<io::Result<S>>>,
    written: u64,
}

impl<S: Write + Send + 'static> TarWriter<S> {
    pub fn new(sink: S, compression: Compression) -> TarWriter<S> {
        let (tx, rx) = sync_channel::<Chunk>(CHUNKS);
        let (free_tx, free) = sync_channel::<Vec<u8>>(CHUNKS + 1);
        let handle = std::thread::Builder::new()
            .name("archive-writer".into())
            .spawn(move || match compression {
                Compression::None => write_plain(sink, rx, free_tx),
                Compression::Zstd { level } => write_zstd(sink, level, rx, free_tx),
            })
            .expect("spawning the archive writer thread");
        TarWriter {
            tx: Some(tx),
            free,
            allocated: 1,
            cur: vec![0; CHUNK],
            filled: 0,
            handle: Some(handle),
            written: 0,
        }
    }

    /// Uncompressed archive bytes produced so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends a file held in memory (`oci-layout`, `index.json`).
    pub fn append_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.put(&header(path, bytes.len() as u64))?;
        self.put(bytes)?;
        self.put(&END[..padding(bytes.len() as u64) as usize])
    }

    /// Appends a blob streamed from `reader`, which must yield exactly `size` bytes
    /// hashing to `digest`; `progress` hears of every chunk. The bytes are hashed in
    /// the buffer they are written from, so what is checked is what is archived.
    pub fn append_blob(
        &mut self,
        path: &str,
        digest: &Digest,
        size: u64,
        reader: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        self.put(&header(path, size))?;
        let mut reader = VerifyingReader::new(reader, digest, size);
        let mut left = size;
        while left > 0 {
            if self.filled == CHUNK {
                self.send()?;
            }
            let room = (CHUNK - self.filled).min(usize::try_from(left).unwrap_or(usize::MAX));
            let buf = &mut self.cur[self.filled..self.filled + room];
            let n = match reader.read(buf) {
                Ok(0) => return Err(Error::invalid(format!("blob {digest}: ended early"))),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(format!("reading blob {digest}"), e)),
            };
            self.filled += n;
            self.written += n as u64;
            left -= n as u64;
            progress(n as u64);
        }
        reader.finish()?;
        self.put(&END[..padding(size) as usize])
    }

    /// Writes the end-of-archive blocks, waits for the writing thread and hands back
    /// the sink (to commit).
    pub fn finish(mut self) -> Result<S> {
        self.put(&END)?;
        if self.filled > 0 {
            self.send()?;
        }
        self.tx = None;
        self.join()
    }

    fn put(&mut self, mut bytes: &[u8]) -> Result<()> {
        self.written += bytes.len() as u64;
        while !bytes.is_empty() {
            if self.filled == CHUNK {
                self.send()?;
            }
            let n = bytes.len().min(CHUNK - self.filled);
            self.cur[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// Hands the current chunk to the writer and takes a free one (a new one while
    /// fewer than the pool's size exist).
    fn send(&mut self) -> Result<()> {
        let next = if self.allocated < CHUNKS + 1 {
            self.allocated += 1;
            Some(vec![0; CHUNK])
        } else {
            None
        };
        let full = std::mem::take(&mut self.cur);
        let sent = self
            .tx
            .as_ref()
            .expect("not finished")
            .send((full, self.filled));
        let next = match (sent, next) {
            (Ok(()), Some(b)) => Ok(b),
            (Ok(()), None) => self.free.recv().map_err(drop),
            (Err(_), _) => Err(()),
        };
        match next {
            Ok(b) => {
                self.cur = b;
                self.filled = 0;
                Ok(())
            }
            // The writing thread stopped: it says why.
            Err(()) => {
                self.tx = None;
                Err(match self.join() {
                    Err(e) => e,
                    Ok(_) => Error::invalid("the archive writer stopped early"),
                })
            }
        }
    }

    fn join(&mut self) -> Result<S> {
        let handle = self.handle.take().expect("joined once");
        match handle.join() {
            Ok(Ok(sink)) => Ok(sink),
            Ok(Err(e)) => Err(Error::io("writing the archive", e)),
            Err(_) => Err(Error::invalid(
                "the archive writer thread panicked (a bug); nothing was kept",
            )),
        }
    }
}

impl<S: Write + Send + 'static> Drop for TarWriter<S> {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            // The sink is dropped with the thread's result: temp files go away.
            let _ = h.join();
        }
    }
}

/// The writing thread without compression: chunks straight to the sink.
fn write_plain<S: Write>(
    mut sink: S,
    rx: Receiver<Chunk>,
    free: SyncSender<Vec<u8>>,
) -> io::Result<S> {
    for (buf, n) in rx {
        // Returning on error drops `rx`: the producer's next send fails and it joins
        // this thread to learn the error.
        sink.write_all(&buf[..n])?;
        let _ = free.try_send(buf);
    }
    sink.flush()?;
    Ok(sink)
}

/// The writing thread with zstd: libzstd's multi-threaded streaming encoder (one
/// frame, content checksum). Its workers compress while this thread feeds them the
/// chunks and writes what comes out; an error from the sink ends the loop, which
/// drops `rx` and so stops the producer.
///
/// With one worker or more libzstd cuts the input into jobs whose size depends on the
/// level alone, so the bytes are the same whatever the number of cores.
fn write_zstd<S: Write>(
    sink: S,
    level: i32,
    rx: Receiver<Chunk>,
    free: SyncSender<Vec<u8>>,
) -> io::Result<S> {
    let mut z = zstd_encoder(sink, level, zstd_workers())?;
    for (buf, n) in rx {
        z.write_all(&buf[..n])?;
        let _ = free.try_send(buf);
    }
    let mut sink = z.finish()?;
    sink.flush()?;
    Ok(sink)
}

/// One checksummed frame at `level`, compressed by `workers` threads.
fn zstd_encoder<S: Write>(
    sink: S,
    level: i32,
    workers: u32,
) -> io::Result<zstd::stream::write::Encoder<'static, S>> {
    let mut z = zstd::stream::write::Encoder::new(sink, level)?;
    z.include_checksum(true)?;
    z.multithread(workers)?;
    Ok(z)
}

/// libzstd's compression workers: one per core, as `zstd -T0`; never 0, which would
/// be libzstd's single-threaded mode and write different bytes.
fn zstd_workers() -> u32 {
    std::thread::available_parallelism()
        .map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
        .clamp(1, 64)
}

/// The path of a blob inside an archive.
pub fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().name(), d.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(h: &[u8], r: std::ops::Range<usize>) -> &str {
        std::str::from_utf8(&h[r]).unwrap()
    }

    #[test]
    fn headers_are_fixed_ustar() {
        let h = header("index.json", 1234);
        assert_eq!(h.len(), 512);
        assert_eq!(field(&h, 0..10), "index.json");
        assert_eq!(field(&h, 100..108), "0000644\0");
        assert_eq!(field(&h, 108..124), "0000000\x000000000\x00");
        assert_eq!(field(&h, 124..136), "00000002322\0");
        assert_eq!(field(&h, 136..148), "00000000000\0");
        assert_eq!(h[156], b'0');
        assert_eq!(field(&h, 257..265), "ustar\x0000");
        assert!(h[265..329].iter().all(|&b| b == 0), "no owner names");
        // the checksum: sum of the block with the checksum field as spaces
        let mut copy = h.clone();
        copy[148..156].copy_from_slice(b"        ");
        let sum: u32 = copy.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(field(&h, 148..156), format!("{sum:06o}\0 "));
    }

    #[test]
    fn pax_only_when_needed() {
        let small = "blobs/sha256/".to_owned() + &"a".repeat(64);
        assert_eq!(header(&small, USTAR_MAX_SIZE).len(), 512);
        let big = header(&small, USTAR_MAX_SIZE + 1);
        assert_eq!(big.len(), 1536);
        assert_eq!(big[156], b'x');
        let rec = format!("19 size={}\n", USTAR_MAX_SIZE + 1);
        assert_eq!(&big[512..512 + rec.len()], rec.as_bytes());
        assert_eq!(field(&big, 1024 + 124..1024 + 136), "00000000000\0");
        assert_eq!(
            entry_len(&small, USTAR_MAX_SIZE + 1),
            1536 + USTAR_MAX_SIZE + 1
        );

        let long = "blobs/sha512/".to_owned() + &"b".repeat(128);
        let h = header(&long, 3);
        assert_eq!(h.len(), 1536);
        let rec = format!("{} path={long}\n", long.len() + 10);
        assert_eq!(&h[512..512 + rec.len()], rec.as_bytes());
        assert_eq!(pax_record("k", "v"), "6 k=v\n");
        // the length prefix counts itself, across the 2→3 digit step
        for n in 80..110 {
            let r = pax_record("path", &"x".repeat(n));
            let (len, _) = r.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), r.len(), "{n}");
        }
    }

    /// Another implementation (the `tar` crate) reads our PAX headers as meant: the
    /// real size of an entry over 8 GiB, and a long `blobs/sha512/…` name.
    #[test]
    fn pax_headers_read_back_with_the_tar_crate() {
        let long = "blobs/sha512/".to_owned() + &"c".repeat(128);
        let nine_gib = 9 << 30;
        for (path, size) in [(long.as_str(), 3), ("blobs/sha256/x", nine_gib)] {
            let mut bytes = header(path, size);
            // The data itself is not needed to read the first header.
            bytes.resize(bytes.len() + 4096, 0);
            let mut a = tar::Archive::new(&bytes[..]);
            let mut entries = a.entries().unwrap();
            let e = entries.next().unwrap().unwrap();
            assert_eq!(e.path().unwrap().to_str().unwrap(), path);
            assert_eq!(e.size(), size);
            assert_eq!(e.header().mtime().unwrap(), 0);
        }
    }

    fn archive(compression: Compression, blob: &[u8]) -> Vec<u8> {
        let mut w = TarWriter::new(Vec::new(), compression);
        w.append_bytes("oci-layout", b"{}").unwrap();
        let d = Digest::sha256(blob);
        w.append_blob(
            &blob_path(&d),
            &d,
            blob.len() as u64,
            &mut &blob[..],
            &mut |_| {},
        )
        .unwrap();
        let n = w.written();
        let out = w.finish().unwrap();
        if compression == Compression::None {
            assert_eq!(out.len() as u64, n + 1024);
        }
        out
    }

    #[test]
    fn streams_across_chunks_and_compresses() {
        let blob: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let plain = archive(Compression::None, &blob);
        let d = Digest::sha256(&blob);
        assert_eq!(
            plain.len() as u64,
            archive_len([
                ("oci-layout", 2),
                (blob_path(&d).as_str(), blob.len() as u64)
            ])
        );
        assert_eq!(&plain[1024 + 512..1024 + 512 + blob.len()], &blob[..]);
        assert_eq!(plain, archive(Compression::None, &blob), "deterministic");

        let z = archive(Compression::ZSTD, &blob);
        assert!(z.len() < plain.len() / 10, "compressible data shrinks");
        let mut back = Vec::new();
        zstd::stream::read::Decoder::new(&z[..])
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, plain);
        assert_eq!(z, archive(Compression::ZSTD, &blob), "deterministic");
        let z19 = archive(Compression::Zstd { level: 19 }, &blob);
        assert_ne!(z19, z, "the level is used");
    }

    /// The archive's bytes do not depend on the machine's core count: libzstd's jobs
    /// are cut by size, whatever the number of workers (24 MiB is several jobs).
    #[test]
    fn zstd_bytes_do_not_depend_on_the_worker_count() {
        let mut data = vec![0u8; 24 << 20];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for (i, b) in data.iter_mut().enumerate() {
            // half random, half runs: compressible, but not trivially
            if i % 2048 < 1024 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
        }
        let encode = |workers| {
            let mut z = zstd_encoder(Vec::new(), ZSTD_DEFAULT_LEVEL, workers).unwrap();
            z.write_all(&data).unwrap();
            z.finish().unwrap()
        };
        let one = encode(1);
        assert!(one.len() < data.len() * 3 / 4, "{}", one.len());
        assert_eq!(one, encode(3));
    }

    #[test]
    fn a_wrong_digest_or_short_blob_fails() {
        let mut w = TarWriter::new(Vec::new(), Compression::None);
        let d = Digest::sha256(b"other");
        let e = w
            .append_blob("x", &d, 5, &mut &b"hello"[..], &mut |_| {})
            .unwrap_err();
        assert!(matches!(e, Error::DigestMismatch(_)), "{e}");
        assert!(e.to_string().contains("does not match its digest"), "{e}");
        let mut w = TarWriter::new(Vec::new(), Compression::ZSTD);
        let d = Digest::sha256(b"hello");
        let e = w
            .append_blob("x", &d, 6, &mut &b"hello"[..], &mut |_| {})
            .unwrap_err();
        assert!(e.to_string().contains("expected 6 bytes, got 5"), "{e}");
        // a blob that grew since it was listed is refused too (it used to be cut)
        let mut w = TarWriter::new(Vec::new(), Compression::None);
        let e = w
            .append_blob("x", &d, 5, &mut &b"hello!"[..], &mut |_| {})
            .unwrap_err();
        assert!(e.to_string().contains("got more than 5"), "{e}");
    }

    /// A sink that fails after a few bytes, like a full disk.
    struct Full(usize);
    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.0 < buf.len() {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            self.0 -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_surfaces_from_either_pipeline() {
        let blob = vec![7u8; 20 * CHUNK];
        let d = Digest::sha256(&blob);
        for c in [Compression::None, Compression::ZSTD] {
            let mut w = TarWriter::new(Full(100), c);
            let r = w.append_blob("x", &d, blob.len() as u64, &mut &blob[..], &mut |_| {});
            let e = match r {
                Err(e) => e,
                Ok(()) => w.finish().err().expect("must fail"),
            };
            assert!(e.to_string().contains("disk full"), "{c:?}: {e}");
        }
    }
}
