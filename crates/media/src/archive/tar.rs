//! A strict tar scanner: headers are parsed here, byte by byte, rather than by the
//! `tar` crate, because reading untrusted archives needs what that crate hides or
//! does unboundedly: it reads PAX and GNU long-name data whole into memory (a zstd
//! bomb with a 10 GB PAX header would exhaust it), and it lets PAX and GNU names or
//! sizes override each other silently, which is the parser-differential class of
//! RUSTSEC-2026-0068 and TARmageddon. Here every disagreement is an error.
//!
//! Accepted: POSIX ustar and GNU headers with valid checksums; PAX `x` headers
//! (`path`, `size`, `linkpath` honoured; other keys ignored; at most 64 KiB); PAX
//! `g` headers that set none of those; GNU `L`/`K` long names (at most 4 KiB).
//! Refused: a PAX `size` that disagrees with a non-zero header size, a GNU long name
//! together with a PAX path, duplicated PAX keys, sparse files, two extension headers
//! of a kind for one entry, truncation anywhere (in a header, in data, before the
//! two end-of-archive blocks) and anything but zeros after the end marker.

use std::io::{self, Read};

use crate::digest::printable;
use crate::{Error, Result};

pub const BLOCK: u64 = 512;
/// Largest PAX extended header accepted: real ones are a few hundred bytes.
const MAX_PAX: u64 = 64 * 1024;
/// Largest GNU long name (or long link name) accepted; PATH_MAX is 4096.
const MAX_LONG_NAME: u64 = 4096;

/// What a tar entry is. Only `File` and `Dir` are ever accepted by the readers; the
/// others are named so that the refusal can say what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink(String),
    Hardlink(String),
    CharDevice,
    BlockDevice,
    Fifo,
    Other(u8),
}

impl EntryKind {
    pub fn describe(&self) -> String {
        match self {
            EntryKind::File => "a regular file".into(),
            EntryKind::Dir => "a directory".into(),
            EntryKind::Symlink(t) => format!("a symlink (to {:?})", printable(t)),
            EntryKind::Hardlink(t) => format!("a hard link (to {:?})", printable(t)),
            EntryKind::CharDevice => "a character device".into(),
            EntryKind::BlockDevice => "a block device".into(),
            EntryKind::Fifo => "a FIFO".into(),
            EntryKind::Other(c) => format!("an entry of unsupported type {:?}", *c as char),
        }
    }
}

/// One entry's header, after its extension headers were applied.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The path, validated and normalised: relative, no `.`/`..`/empty components,
    /// no leading `./`, no trailing `/`. Empty for the archive root (`./`).
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
    /// Where the entry's data starts in the (decompressed) tar stream.
    pub offset: u64,
}

/// Where the tar bytes come from: a reader that can also skip forward (by seeking,
/// or by reading and discarding for a stream).
pub trait Input: Read {
    /// Skips up to `n` bytes; returns how many were skipped (fewer only at the end).
    fn skip(&mut self, n: u64) -> io::Result<u64>;
}

/// A plain stream: skipping reads and discards.
pub struct Streamed<R>(pub R);

impl<R: Read> Read for Streamed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Input for Streamed<R> {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        io::copy(&mut (&mut self.0).take(n), &mut io::sink())
    }
}

pub struct Scanner<I> {
    input: I,
    /// Bytes consumed from the tar stream so far.
    pos: u64,
    /// Data of the current entry not yet consumed, then its padding.
    remaining: u64,
    padding: u64,
    current: String,
    finished: bool,
}

impl<I: Input> Scanner<I> {
    pub fn new(input: I) -> Scanner<I> {
        Scanner {
            input,
            pos: 0,
            remaining: 0,
            padding: 0,
            current: String::new(),
            finished: false,
        }
    }

    /// The next entry, or `None` after the end-of-archive marker (which is checked,
    /// as is everything after it).
    pub fn next_entry(&mut self) -> Result<Option<Entry>> {
        if self.finished {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut pax: Option<Pax> = None;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        loop {
            let at = self.pos;
            let mut b = [0u8; BLOCK as usize];
            let n = self.read_full(&mut b)?;
            if n == 0 {
                return Err(Error::invalid(format!(
                    "truncated archive: it ends at offset {at} without the end-of-archive marker"
                )));
            }
            if n < b.len() {
                return Err(Error::invalid(format!(
                    "truncated archive: it ends inside a header at offset {at}"
                )));
            }
            if b.iter().all(|&x| x == 0) {
                if pax.is_some() || long_name.is_some() || long_link.is_some() {
                    return Err(Error::invalid(format!(
                        "extended header before offset {at} describes no entry"
                    )));
                }
                self.finish_end(at)?;
                return Ok(None);
            }
            let h = RawHeader::parse(&b, at)?;
            match h.typeflag {
                b'x' | b'g' => {
                    let data = self.read_ext(&h, MAX_PAX, "PAX header", at)?;
                    let parsed = Pax::parse(&data, at)?;
                    if h.typeflag == b'g' {
                        // A global header that changed paths or sizes would apply to
                        // every later entry in some readers and not in others.
                        if parsed.path.is_some()
                            || parsed.size.is_some()
                            || parsed.linkpath.is_some()
                        {
                            return Err(Error::invalid(format!(
                                "global PAX header at offset {at} sets a path, link or size"
                            )));
                        }
                        continue;
                    }
                    if pax.is_some() {
                        return Err(Error::invalid(format!(
                            "two PAX headers for one entry (offset {at})"
                        )));
                    }
                    pax = Some(parsed);
                }
                b'L' | b'K' => {
                    let data = self.read_ext(&h, MAX_LONG_NAME, "GNU long name", at)?;
                    let slot = if h.typeflag == b'L' {
                        &mut long_name
                    } else {
                        &mut long_link
                    };
                    if slot.is_some() {
                        return Err(Error::invalid(format!(
                            "two GNU long names for one entry (offset {at})"
                        )));
                    }
                    // The data is NUL-terminated (and may be NUL-padded).
                    let end = data.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
                    *slot = Some(data[..end].to_vec());
                }
                _ => return self.main_entry(h, pax, long_name, long_link, at).map(Some),
            }
        }
    }

    /// A reader over the current entry's data (bounded by its size; an early end of
    /// input is a truncation error).
    pub fn data(&mut self) -> DataReader<'_, I> {
        DataReader { s: self }
    }

    /// Consumes the scanner, returning the current entry's data reader by value.
    pub fn into_data(self) -> OwnedData<I> {
        OwnedData { s: self }
    }

    pub fn position(&self) -> u64 {
        self.pos
    }

    fn main_entry(
        &mut self,
        h: RawHeader,
        pax: Option<Pax>,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
        at: u64,
    ) -> Result<Entry> {
        let pax = pax.unwrap_or_default();
        if pax.sparse {
            return Err(Error::invalid(format!(
                "entry at offset {at}: sparse files are not accepted"
            )));
        }
        let raw_name: Vec<u8> = match (&pax.path, long_name) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(format!(
                    "entry at offset {at} has both a GNU long name and a PAX path"
                )));
            }
            (Some(p), None) => p.clone(),
            (None, Some(l)) => l,
            (None, None) => h.name.clone(),
        };
        let name_text = String::from_utf8(raw_name).map_err(|e| {
            Error::invalid(format!(
                "entry at offset {at}: name {:?} is not UTF-8",
                String::from_utf8_lossy(e.as_bytes())
            ))
        })?;
        let name = clean_name(&name_text).map_err(|why| {
            Error::invalid(format!(
                "entry {:?} (offset {at}): {why}",
                printable(&name_text)
            ))
        })?;
        let mut size = h.size;
        if let Some(p) = pax.size {
            if h.size != 0 && h.size != p {
                return Err(Error::invalid(format!(
                    "entry {:?} (offset {at}): PAX size {p} disagrees with the header's size {}",
                    printable(&name),
                    h.size
                )));
            }
            size = p;
        }
        let link = || -> String {
            let raw = match (&pax.linkpath, &long_link) {
                (Some(p), _) => p.clone(),
                (None, Some(l)) => l.clone(),
                (None, None) => h.linkname.clone(),
            };
            String::from_utf8_lossy(&raw).into_owned()
        };
        let kind = match h.typeflag {
            b'0' | 0 => EntryKind::File,
            b'5' => EntryKind::Dir,
            b'2' => EntryKind::Symlink(link()),
            b'1' => EntryKind::Hardlink(link()),
            b'3' => EntryKind::CharDevice,
            b'4' => EntryKind::BlockDevice,
            b'6' => EntryKind::Fifo,
            c => EntryKind::Other(c),
        };
        // Links, devices and directories carry no data in any format we accept; a
        // size there would make readers disagree on where the next header is.
        if kind != EntryKind::File && size != 0 {
            return Err(Error::invalid(format!(
                "entry {:?} (offset {at}): {} with {size} bytes of data",
                printable(&name),
                kind.describe()
            )));
        }
        let padding = pad(size).ok_or_else(|| {
            Error::invalid(format!("entry {:?}: size overflows", printable(&name)))
        })?;
        self.remaining = size;
        self.padding = padding;
        self.current = name.clone();
        Ok(Entry {
            name,
            kind,
            size,
            offset: self.pos,
        })
    }

    /// Reads an extension header's data (PAX or GNU long name), capped at `max`.
    fn read_ext(&mut self, h: &RawHeader, max: u64, what: &str, at: u64) -> Result<Vec<u8>> {
        if h.size > max {
            return Err(Error::invalid(format!(
                "{what} at offset {at} is {} bytes (at most {max} accepted)",
                h.size
            )));
        }
        let mut data = vec![0u8; h.size as usize];
        if self.read_full(&mut data)? < data.len() {
            return Err(Error::invalid(format!(
                "truncated archive: it ends inside the {what} at offset {at}"
            )));
        }
        let pad = pad(h.size).expect("small");
        if self.skip_exact(pad)? < pad {
            return Err(Error::invalid(format!(
                "truncated archive: it ends inside the {what} at offset {at}"
            )));
        }
        Ok(data)
    }

    /// Skips what is left of the current entry's data and its padding.
    fn skip_rest(&mut self) -> Result<()> {
        let want = self.remaining + self.padding;
        if want == 0 {
            return Ok(());
        }
        let got = self.skip_exact(want)?;
        if got < want {
            return Err(self.truncated_in_data());
        }
        self.remaining = 0;
        self.padding = 0;
        Ok(())
    }

    fn truncated_in_data(&self) -> Error {
        Error::invalid(format!(
            "truncated archive: entry {:?} runs past the end of the archive",
            printable(&self.current)
        ))
    }

    /// After the first zero block at `at`: a second must follow, then only zeros.
    fn finish_end(&mut self, at: u64) -> Result<()> {
        self.finished = true;
        let mut b = [0u8; BLOCK as usize];
        let n = self.read_full(&mut b)?;
        if n < b.len() && b[..n].iter().all(|&x| x == 0) {
            return Err(Error::invalid(format!(
                "truncated archive: one end-of-archive block at offset {at}, two expected"
            )));
        }
        let mut buf = vec![0u8; 64 * 1024];
        let mut chunk: &mut [u8] = &mut b[..n];
        loop {
            if let Some(i) = chunk.iter().position(|&x| x != 0) {
                let off = self.pos - chunk.len() as u64 + i as u64;
                return Err(Error::invalid(format!(
                    "trailing data after the end-of-archive marker (non-zero byte at offset {off})"
                )));
            }
            let k = self.read_some(&mut buf)?;
            if k == 0 {
                return Ok(());
            }
            chunk = &mut buf[..k];
        }
    }

    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match self.input.read(buf) {
                Ok(k) => {
                    self.pos += k as u64;
                    return Ok(k);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("reading the archive", e)),
            }
        }
    }

    /// Fills `buf` unless the input ends first; returns how much was read.
    fn read_full(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let k = self.read_some(&mut buf[n..])?;
            if k == 0 {
                break;
            }
            n += k;
        }
        Ok(n)
    }

    fn skip_exact(&mut self, n: u64) -> Result<u64> {
        let k = self
            .input
            .skip(n)
            .map_err(|e| Error::io("reading the archive", e))?;
        self.pos += k;
        Ok(k)
    }
}

/// The current entry's data; reading past its size yields EOF.
pub struct DataReader<'a, I> {
    s: &'a mut Scanner<I>,
}

impl<I: Input> Read for DataReader<'_, I> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_data(self.s, buf)
    }
}

/// [`DataReader`] owning its scanner (for readers handed out by value).
pub struct OwnedData<I> {
    s: Scanner<I>,
}

impl<I: Input> Read for OwnedData<I> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_data(&mut self.s, buf)
    }
}

fn read_data<I: Input>(s: &mut Scanner<I>, buf: &mut [u8]) -> io::Result<usize> {
    if s.remaining == 0 || buf.is_empty() {
        return Ok(0);
    }
    let want = buf
        .len()
        .min(usize::try_from(s.remaining).unwrap_or(usize::MAX));
    let k = loop {
        match s.input.read(&mut buf[..want]) {
            Ok(k) => break k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    if k == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            s.truncated_in_data().to_string(),
        ));
    }
    s.pos += k as u64;
    s.remaining -= k as u64;
    Ok(k)
}

/// Padding after `size` bytes of data, up to the next block.
fn pad(size: u64) -> Option<u64> {
    let rounded = size.checked_add(BLOCK - 1)? / BLOCK * BLOCK;
    Some(rounded - size)
}

/// The fields of one 512-byte header this scanner uses.
struct RawHeader {
    name: Vec<u8>,
    linkname: Vec<u8>,
    size: u64,
    typeflag: u8,
}

impl RawHeader {
    fn parse(b: &[u8; BLOCK as usize], at: u64) -> Result<RawHeader> {
        let bad = |why: String| Error::invalid(format!("bad tar header at offset {at}: {why}"));
        let stored = parse_octal(&b[148..156]).ok_or_else(|| bad("unreadable checksum".into()))?;
        let unsigned: u64 = b
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(x)
                }
            })
            .sum();
        // Some historic writers summed signed bytes; both are accepted.
        let signed: i64 = b
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    i64::from(x as i8)
                }
            })
            .sum();
        if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
            return Err(bad(
                "checksum mismatch (not a tar archive, or corrupted)".into()
            ));
        }
        let posix = &b[257..263] == b"ustar\0" && &b[263..265] == b"00";
        let gnu = &b[257..265] == b"ustar  \0";
        if !posix && !gnu {
            return Err(bad("not a ustar, PAX or GNU header".into()));
        }
        let field = |r: std::ops::Range<usize>| -> Vec<u8> {
            let f = &b[r];
            let end = f.iter().position(|&c| c == 0).unwrap_or(f.len());
            f[..end].to_vec()
        };
        let mut name = field(0..100);
        if posix {
            let prefix = field(345..500);
            if !prefix.is_empty() {
                let mut full = prefix;
                full.push(b'/');
                full.extend_from_slice(&name);
                name = full;
            }
        }
        let size = parse_number(&b[124..136]).ok_or_else(|| bad("unreadable size".into()))?;
        Ok(RawHeader {
            name,
            linkname: field(157..257),
            size,
            typeflag: b[156],
        })
    }
}

/// A numeric header field: octal (NUL- or space-terminated), or GNU base-256 when
/// the high bit of the first byte is set. Negative values are refused.
fn parse_number(f: &[u8]) -> Option<u64> {
    if f[0] & 0x80 != 0 {
        if f[0] == 0xff {
            return None;
        }
        let mut v: u64 = u64::from(f[0] & 0x7f);
        for &x in &f[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(x))?;
        }
        return Some(v);
    }
    parse_octal(f)
}

fn parse_octal(f: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < f.len() && f[i] == b' ' {
        i += 1;
    }
    let mut v: u64 = 0;
    let start = i;
    while i < f.len() && (b'0'..=b'7').contains(&f[i]) {
        v = v.checked_mul(8)?.checked_add(u64::from(f[i] - b'0'))?;
        i += 1;
    }
    if i == start && i < f.len() && f[i] != 0 && f[i] != b' ' {
        return None;
    }
    // What follows the digits must be terminators only.
    if f[i..].iter().any(|&c| c != 0 && c != b' ') {
        return None;
    }
    Some(v)
}

#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    sparse: bool,
}

impl Pax {
    /// Records are `"<len> <key>=<value>\n"`, `len` counting the whole record.
    fn parse(data: &[u8], at: u64) -> Result<Pax> {
        let bad = |why: &str| Error::invalid(format!("bad PAX header at offset {at}: {why}"));
        let mut out = Pax::default();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let sp = rest
                .iter()
                .position(|&c| c == b' ')
                .ok_or_else(|| bad("record without a length"))?;
            let len: usize = std::str::from_utf8(&rest[..sp])
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("unreadable record length"))?;
            if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
                return Err(bad("record length does not match its content"));
            }
            let record = &rest[sp + 1..len - 1];
            rest = &rest[len..];
            let eq = record
                .iter()
                .position(|&c| c == b'=')
                .ok_or_else(|| bad("record without '='"))?;
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            if seen.iter().any(|k| k == key) {
                return Err(bad(&format!(
                    "key {:?} given twice",
                    String::from_utf8_lossy(key)
                )));
            }
            seen.push(key.to_vec());
            match key {
                b"path" => out.path = Some(value.to_vec()),
                b"linkpath" => out.linkpath = Some(value.to_vec()),
                b"size" => {
                    let v = std::str::from_utf8(value)
                        .ok()
                        .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| bad("unreadable size"))?;
                    out.size = Some(v);
                }
                k if k.starts_with(b"GNU.sparse.") => out.sparse = true,
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Validates and normalises an entry path (see [`Entry::name`]).
pub fn clean_name(raw: &str) -> std::result::Result<String, String> {
    if raw.contains('\0') {
        return Err("the name contains a NUL byte".into());
    }
    if raw.starts_with('/') {
        return Err("absolute path".into());
    }
    let mut s = raw;
    if s == "." || s == "./" {
        return Ok(String::new());
    }
    if let Some(rest) = s.strip_prefix("./") {
        s = rest;
    }
    if let Some(rest) = s.strip_suffix('/') {
        s = rest;
    }
    if s.is_empty() {
        return Err("empty name".into());
    }
    for comp in s.split('/') {
        match comp {
            ".." => return Err("'..' component (path traversal)".into()),
            "." | "" => return Err("empty or '.' path component".into()),
            _ => {}
        }
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(clean_name("./blobs/sha256/").unwrap(), "blobs/sha256");
        assert_eq!(clean_name("index.json").unwrap(), "index.json");
        assert_eq!(clean_name("./").unwrap(), "");
        for bad in [
            "/etc/passwd",
            "../x",
            "blobs/../../x",
            "a//b",
            "a/./b",
            "a\0b",
            "",
        ] {
            assert!(clean_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_octal(b"0000644\0"), Some(0o644));
        assert_eq!(parse_octal(b"   644 \0"), Some(0o644));
        assert_eq!(parse_octal(b"\0\0\0\0"), Some(0));
        assert_eq!(parse_octal(b"64x4\0\0\0\0"), None);
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[11] = 1;
        big[10] = 2;
        assert_eq!(parse_number(&big), Some(513));
        big[0] = 0xff;
        assert_eq!(parse_number(&big), None);
    }

    #[test]
    fn pax_records() {
        let p = Pax::parse(b"13 size=1234\n12 path=abc\n", 0).unwrap();
        assert_eq!(p.size, Some(1234));
        assert_eq!(p.path.as_deref(), Some(&b"abc"[..]));
        assert!(Pax::parse(b"13 size=1234\n13 size=1234\n", 0).is_err());
        assert!(Pax::parse(b"99 size=1\n", 0).is_err());
        assert!(Pax::parse(b"12 size=-1\n", 0).is_err());
    }
}
