//! Blob uploads: one `PUT` for small blobs, `PATCH` chunks with `Content-Range`
//! for large ones, streamed from a seekable source; an interrupted upload resumes
//! from the registry's `Range` (GET on the upload URL → 204 `Range: 0-N`); a lost
//! session starts over; a cross-repository mount answered 202 continues as an
//! upload into the session the registry opened.

use std::io::{Read, Seek, SeekFrom};

use ureq::Body;
use ureq::http::{Method, Response};

use super::auth::Scopes;
use super::client::{
    Call, Fail, FailKind, RegistryClient, Repository, ReqBody, drain, error_detail, header,
};
use super::retry::Resumes;
use super::url as u;
use crate::Result;
use crate::digest::{Digest, printable};

/// A source an upload can re-read from any offset (a blob file).
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek + ?Sized> ReadSeek for T {}

/// An open upload on the registry: where to send the next bytes and how many it
/// holds. Persist [`Self::location`] to resume after a crash
/// ([`UploadSession::resume_from`]).
#[derive(Clone, Debug)]
pub struct UploadSession {
    repo: Repository,
    url: String,
    offset: u64,
    /// The most bytes the registry can truthfully hold: the end of the furthest
    /// chunk offered to it; `None` until the first status of a session known only
    /// by its URL. A `Range` beyond it is a lie (we never sent those bytes).
    limit: Option<u64>,
}

impl UploadSession {
    /// A session known only by its URL (e.g. saved by an earlier run); its offset
    /// is asked from the registry when it is resumed.
    pub fn resume_from(repo: &Repository, location: &str) -> Result<UploadSession> {
        if u::split(location).is_none() {
            return Err(crate::Error::invalid(format!(
                "upload location {:?} is not an absolute http(s) URL",
                printable(location)
            )));
        }
        Ok(UploadSession {
            repo: repo.clone(),
            url: location.to_owned(),
            offset: 0,
            limit: None,
        })
    }

    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// Bytes the registry holds, as far as we know.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The absolute upload URL (the registry's latest `Location`).
    pub fn location(&self) -> &str {
        &self.url
    }
}

/// How a blob got into a repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobPush {
    /// Cross-repository mount: no bytes sent.
    Mounted,
    Uploaded,
}

/// How [`RegistryClient::push_blob`] sends a blob.
pub struct PushBlob<'a> {
    /// Try a cross-repository mount from this repository (same registry) first.
    pub mount_from: Option<&'a Repository>,
    /// A session an earlier run left open, to continue.
    pub resume: Option<UploadSession>,
    /// Called with the session whenever one is opened or the registry acknowledges
    /// a chunk (its location and offset then change).
    pub on_session: &'a mut dyn FnMut(&UploadSession),
}

/// What [`RegistryClient::push_blob`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pushed {
    pub how: BlobPush,
    /// Bytes an earlier session already held (not sent again); the blob's size
    /// when that session had in fact completed.
    pub resumed_from: u64,
}

enum Posted {
    Created,
    Session(UploadSession),
}

impl RegistryClient {
    fn upload_call<'a>(
        &self,
        s: &'a UploadSession,
        method: Method,
        url: String,
        what: &str,
    ) -> Call<'a> {
        Call {
            method,
            url,
            headers: Vec::new(),
            scopes: Scopes::push(s.repo.name()),
            repo: &s.repo,
            follow: false,
            ctx: format!("{}: {what}", s.repo),
        }
    }

    /// `POST /v2/REPO/blobs/uploads/`, optionally with `?mount=&from=`.
    fn post_upload(
        &self,
        repo: &Repository,
        mount: Option<(&Digest, &Repository)>,
    ) -> std::result::Result<Posted, Fail> {
        let (suffix, scopes, what) = match mount {
            Some((d, from)) => (
                u::with_query(
                    &u::with_query("blobs/uploads/", "mount", &d.to_string()),
                    "from",
                    from.name(),
                ),
                Scopes::push(repo.name()).with("repository", from.name(), &["pull"]),
                format!("mount blob {d} from {}", from.name()),
            ),
            None => (
                "blobs/uploads/".to_owned(),
                Scopes::push(repo.name()),
                "start blob upload".to_owned(),
            ),
        };
        let call = self.call(Method::POST, repo, &suffix, scopes, what)?;
        let resp = self.execute(&call, ReqBody::Empty)?;
        match resp.status().as_u16() {
            201 if mount.is_some() => {
                drain(resp);
                Ok(Posted::Created)
            }
            202 => {
                let loc = header(&resp, "location").and_then(|l| u::resolve_upload(&call.url, &l));
                drain(resp);
                let Some(url) = loc else {
                    return Err(Fail::new(
                        FailKind::Other,
                        &call.ctx,
                        "202 without a usable Location",
                    ));
                };
                Ok(Posted::Session(UploadSession {
                    repo: repo.clone(),
                    url,
                    offset: 0,
                    limit: Some(0),
                }))
            }
            _ => Err(Fail::new(FailKind::Other, &call.ctx, error_detail(resp))),
        }
    }

    fn new_session(&self, repo: &Repository) -> std::result::Result<UploadSession, Fail> {
        match self.post_upload(repo, None)? {
            Posted::Session(s) => Ok(s),
            Posted::Created => unreachable!("a plain POST cannot mount"),
        }
    }

    /// Opens an upload session.
    pub fn start_upload(&self, repo: &Repository) -> Result<UploadSession> {
        Ok(self.new_session(repo)?)
    }

    /// Asks the registry how much of the upload it holds (204 `Range: 0-N`), and
    /// updates the session's offset and location. A lost session is `NotFound`.
    pub fn upload_status(&self, session: &mut UploadSession) -> Result<u64> {
        Ok(self.status(session)?)
    }

    fn status(&self, s: &mut UploadSession) -> std::result::Result<u64, Fail> {
        let call = self.upload_call(s, Method::GET, s.url.clone(), "upload status");
        let resp = self.execute(&call, ReqBody::Empty)?;
        match resp.status().as_u16() {
            200 | 204 => {
                let end = header(&resp, "range").and_then(|r| range_end(&r));
                let loc = header(&resp, "location").and_then(|l| u::resolve_upload(&s.url, &l));
                drain(resp);
                // "0-0" is distribution's answer for an empty upload (and, ambiguously,
                // for one byte): resuming from 0 is right for the former and is
                // corrected by a 416 for the latter
                let offset = match end {
                    Some(0) | None => 0,
                    Some(e) => e.saturating_add(1),
                };
                // a registry claiming bytes it was never sent would have us skip
                // part of the blob: refuse (the first status of a session resumed
                // from a URL has nothing to compare with; the blob size bounds it)
                if let Some(limit) = s.limit
                    && offset > limit
                {
                    return Err(Fail::new(
                        FailKind::Other,
                        &call.ctx,
                        format!(
                            "the registry claims to hold {offset} bytes of the upload, but only {limit} were sent"
                        ),
                    ));
                }
                s.offset = offset;
                s.limit = Some(s.limit.map_or(offset, |l| l.max(offset)));
                if let Some(l) = loc {
                    s.url = l;
                }
                Ok(s.offset)
            }
            // distribution answers 400 BLOB_UPLOAD_INVALID (and drops the upload) when
            // the session's signed `_state` offset is not the size of the data it
            // holds — what a PATCH cut off mid-body leaves behind: the session is lost
            404 | 400 => Err(Fail::new(FailKind::NotFound, &call.ctx, error_detail(resp))),
            _ => Err(Fail::new(FailKind::Other, &call.ctx, error_detail(resp))),
        }
    }

    /// Sends the next `len` bytes of `src` (read from where it stands) as one
    /// `PATCH` chunk at the session's offset.
    pub fn upload_chunk(
        &self,
        session: &mut UploadSession,
        src: &mut dyn Read,
        len: u64,
    ) -> Result<()> {
        Ok(self.patch(session, src, len)?)
    }

    fn patch(
        &self,
        s: &mut UploadSession,
        src: &mut dyn Read,
        len: u64,
    ) -> std::result::Result<(), Fail> {
        let start = s.offset;
        let sent_to = start + len;
        s.limit = Some(s.limit.map_or(sent_to, |l| l.max(sent_to)));
        let mut call = self.upload_call(
            s,
            Method::PATCH,
            s.url.clone(),
            &format!("PATCH blob upload at {start}"),
        );
        call.headers
            .push(("content-type", "application/octet-stream".into()));
        call.headers
            .push(("content-range", format!("{start}-{}", start + len - 1)));
        let resp = self.execute(&call, ReqBody::Stream(Some((src, len))))?;
        match resp.status().as_u16() {
            202 | 204 => {
                let end = header(&resp, "range").and_then(|r| range_end(&r));
                let loc = header(&resp, "location").and_then(|l| u::resolve_upload(&s.url, &l));
                drain(resp);
                let ctx = call.ctx.clone();
                // the latest Location is the session's handle either way
                if let Some(l) = loc {
                    s.url = l;
                }
                // a PATCH is all or nothing: the registry's Range must end where
                // this chunk ends. One that claims bytes beyond it (we would skip
                // part of the blob) or short of it (going backwards, or creeping a
                // byte at a time, would send chunks forever) is not believed: the
                // upload's status is asked instead, under the retry budget
                let now = end.map_or(sent_to, |e| e.saturating_add(1));
                if now != sent_to {
                    return Err(Fail::new(
                        FailKind::Transient,
                        &ctx,
                        format!(
                            "the registry acknowledged bytes 0-{} after a chunk of {start}-{}",
                            now.saturating_sub(1),
                            sent_to - 1
                        ),
                    ));
                }
                s.offset = now;
                Ok(())
            }
            status => Err(session_refusal(status, &call.ctx, resp)),
        }
    }

    /// Closes the session with `PUT ?digest=`, sending `tail` (the rest of the
    /// blob) in the same request if given.
    fn put_final(
        &self,
        s: &UploadSession,
        digest: &Digest,
        tail: Option<(&mut dyn Read, u64)>,
    ) -> std::result::Result<(), Fail> {
        let url = u::with_query(&s.url, "digest", &digest.to_string());
        let mut call = self.upload_call(s, Method::PUT, url, &format!("PUT blob {digest}"));
        let body = match tail {
            Some(t) => {
                call.headers
                    .push(("content-type", "application/octet-stream".into()));
                ReqBody::Stream(Some(t))
            }
            None => ReqBody::Empty,
        };
        let resp = self.execute(&call, body)?;
        match resp.status().as_u16() {
            201 | 204 => {
                let theirs = header(&resp, "docker-content-digest");
                drain(resp);
                if let Some(h) = theirs
                    && h.trim() != digest.to_string()
                {
                    return Err(Fail::new(
                        FailKind::Other,
                        &call.ctx,
                        format!("the registry stored the blob as {}", printable(h.trim())),
                    ));
                }
                Ok(())
            }
            status => Err(session_refusal(status, &call.ctx, resp)),
        }
    }

    /// Completes a session whose bytes were all sent with [`Self::upload_chunk`].
    pub fn finish_upload(&self, session: UploadSession, digest: &Digest) -> Result<()> {
        Ok(self.put_final(&session, digest, None)?)
    }

    /// Abandons a session (`DELETE`), so the registry can drop its data.
    pub fn cancel_upload(&self, session: UploadSession) -> Result<()> {
        let call = self.upload_call(
            &session,
            Method::DELETE,
            session.url.clone(),
            "cancel blob upload",
        );
        let resp = self.execute(&call, ReqBody::Empty)?;
        match resp.status().as_u16() {
            200 | 202 | 204 | 404 => {
                drain(resp);
                Ok(())
            }
            _ => Err(Fail::new(FailKind::Other, &call.ctx, error_detail(resp)).into()),
        }
    }

    /// Uploads a blob of `size` bytes from `src`: one `PUT` up to the monolithic
    /// threshold, `PATCH` chunks above it, resuming after failures. The registry
    /// checks the digest; `src` must yield exactly `size` bytes.
    pub fn upload_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        src: &mut dyn ReadSeek,
    ) -> Result<()> {
        self.post_and_drive(repo, digest, size, src, None, &mut |_| {})?;
        Ok(())
    }

    /// Finishes an upload an earlier attempt (or run) left open: asks the registry
    /// where it stands and sends the rest from there.
    pub fn resume_upload(
        &self,
        session: UploadSession,
        digest: &Digest,
        size: u64,
        src: &mut dyn ReadSeek,
    ) -> Result<()> {
        let repo = session.repo.clone();
        if self
            .continue_session(&repo, session, digest, size, src, &mut |_| {})?
            .is_none()
        {
            let s = self.new_session(&repo)?;
            self.drive(s, digest, size, src, false, &mut |_| {})?;
        }
        Ok(())
    }

    /// Sends a blob the way sync needs: a cross-repository mount first when
    /// `how.mount_from` is given, else (or on a 202) an upload; an upload a killed
    /// run left open (`how.resume`) is continued from the registry's offset, and a
    /// lost or refused one starts over. `how.on_session` hears of every session
    /// opened and every chunk the registry acknowledged, so the caller can persist
    /// [`UploadSession::location`] and resume after a crash.
    pub fn push_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        src: &mut dyn ReadSeek,
        how: PushBlob<'_>,
    ) -> Result<Pushed> {
        let on = how.on_session;
        if let Some(s) = how.resume
            && let Some(resumed_from) = self.continue_session(repo, s, digest, size, src, on)?
        {
            return Ok(Pushed {
                how: BlobPush::Uploaded,
                resumed_from,
            });
        }
        let from = how
            .mount_from
            .filter(|from| from.registry() == repo.registry() && *from != repo);
        Ok(Pushed {
            how: self.post_and_drive(repo, digest, size, src, from, on)?,
            resumed_from: 0,
        })
    }

    /// Continues a session an earlier attempt or run left open, from the offset
    /// the registry reports: the bytes it already held, or the blob's size when the
    /// session is gone because its final PUT landed. `None`: the session is lost
    /// and the blob not there, so the caller starts over.
    fn continue_session(
        &self,
        repo: &Repository,
        mut s: UploadSession,
        digest: &Digest,
        size: u64,
        src: &mut dyn ReadSeek,
        on: &mut dyn FnMut(&UploadSession),
    ) -> Result<Option<u64>> {
        match self.status(&mut s) {
            Ok(offset) => {
                on(&s);
                self.drive(s, digest, size, src, false, on)?;
                Ok(Some(offset))
            }
            // the session is gone: its final PUT may have landed
            Err(f) if f.kind == FailKind::NotFound => {
                Ok((self.blob_exists(repo, digest)? == Some(size)).then_some(size))
            }
            Err(f) => Err(f.into()),
        }
    }

    /// `POST` (a mount from `mount_from` when given) and, unless the registry
    /// mounted the blob, the upload into the session it opened, from the start.
    fn post_and_drive(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        src: &mut dyn ReadSeek,
        mount_from: Option<&Repository>,
        on: &mut dyn FnMut(&UploadSession),
    ) -> Result<BlobPush> {
        match self.post_upload(repo, mount_from.map(|from| (digest, from)))? {
            Posted::Created => Ok(BlobPush::Mounted),
            Posted::Session(s) => {
                on(&s);
                self.drive(s, digest, size, src, true, on)?;
                Ok(BlobPush::Uploaded)
            }
        }
    }

    /// Mounts a blob from another repository of the same registry; when the
    /// registry answers 202 instead (it lacks the blob there, or mounting is off),
    /// uploads into the session it opened.
    pub fn mount_blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        size: u64,
        from: &Repository,
        src: &mut dyn ReadSeek,
    ) -> Result<BlobPush> {
        if from.registry() != repo.registry() {
            return Err(crate::Error::Usage(format!(
                "cannot mount {digest} into {repo} from {from}: not the same registry"
            )));
        }
        self.post_and_drive(repo, digest, size, src, Some(from), &mut |_| {})
    }

    /// Runs an upload to completion, resuming from the registry's offset after a
    /// transient failure and starting over when the session is lost.
    fn drive(
        &self,
        mut s: UploadSession,
        digest: &Digest,
        size: u64,
        src: &mut dyn ReadSeek,
        mut monolithic: bool,
        on: &mut dyn FnMut(&UploadSession),
    ) -> std::result::Result<(), Fail> {
        // The retry budget (attempts and time) is per stretch without progress: a
        // long upload over a flaky link may fail many times in all, as long as the
        // registry keeps acknowledging more bytes between failures; and failures
        // in all are bounded, each chunk may use the budget (`Resumes`, which a
        // download's reopenings use too).
        let mut budget = Resumes::new(&self.opts().retry, size, self.opts().chunk_size, s.offset);
        let mut need_status = false;
        loop {
            let asked_status = need_status;
            let step = if need_status {
                self.status(&mut s).map(|_| ())
            } else {
                self.send_rest(&mut s, digest, size, src, monolithic, on)
            };
            let f = match step {
                Ok(()) if need_status => {
                    need_status = false;
                    continue;
                }
                Ok(()) => return Ok(()),
                Err(f) if matches!(f.kind, FailKind::Transient | FailKind::NotFound) => f,
                // distribution can refuse the final PUT of a blob that another
                // client (a second sync) is committing at the same moment: if the
                // registry now holds the blob, it is there, whoever sent it (a
                // source whose bytes really do not match stays refused)
                Err(f) if f.msg.contains(": DIGEST_INVALID") => {
                    if self.blob_exists(&s.repo, digest).ok().flatten() == Some(size) {
                        return Ok(());
                    }
                    return Err(f);
                }
                Err(f) => return Err(f),
            };
            if !budget.failed(s.offset) {
                return Err(Fail::new(
                    FailKind::Other,
                    &f.msg,
                    format!(
                        "giving up after {} failures in one upload",
                        budget.failures()
                    ),
                ));
            }
            // a session found gone when asked after a failure is that failure's
            // consequence (distribution drops an upload whose body was cut), not a
            // second failure: start over at once
            if !(asked_status && f.kind == FailKind::NotFound) {
                let Some(wait) = budget.backoff(f.retry_after) else {
                    return Err(f);
                };
                std::thread::sleep(wait);
            }
            // whatever happened, continue in chunks from what the registry holds
            monolithic = false;
            if f.kind == FailKind::NotFound {
                // the session is gone; the final PUT may have landed before the
                // connection dropped
                if self
                    .blob_exists(&s.repo, digest)
                    .map_err(|e| Fail::new(FailKind::Other, &f.msg, e))?
                    == Some(size)
                {
                    return Ok(());
                }
                s = self.new_session(&s.repo)?;
                on(&s);
                need_status = false;
            } else {
                need_status = true;
            }
        }
    }

    /// From the session's offset: the whole blob in one PUT (monolithic, offset 0),
    /// or PATCH chunks then an empty PUT.
    fn send_rest(
        &self,
        s: &mut UploadSession,
        digest: &Digest,
        size: u64,
        src: &mut dyn ReadSeek,
        monolithic: bool,
        on: &mut dyn FnMut(&UploadSession),
    ) -> std::result::Result<(), Fail> {
        let seek = |src: &mut dyn ReadSeek, at: u64, s: &UploadSession| {
            src.seek(SeekFrom::Start(at)).map(|_| ()).map_err(|e| {
                Fail::new(
                    FailKind::Other,
                    &format!("{}: upload {digest}", s.repo),
                    format!("reading the source at {at}: {e}"),
                )
            })
        };
        let o = self.opts();
        if monolithic && s.offset == 0 && size <= o.monolithic_threshold && size > 0 {
            seek(src, 0, s)?;
            return self.put_final(s, digest, Some((src, size)));
        }
        while s.offset < size {
            let len = o.chunk_size.min(size - s.offset);
            seek(src, s.offset, s)?;
            self.patch(s, src, len)?;
            on(s);
        }
        if s.offset > size {
            return Err(Fail::new(
                FailKind::Other,
                &format!("{}: upload {digest}", s.repo),
                format!(
                    "the registry holds {} bytes of a {size}-byte blob",
                    s.offset
                ),
            ));
        }
        self.put_final(s, digest, None)
    }
}

/// What a refused PATCH or closing PUT means for the session: gone (404: start a
/// new one), out of step with the registry (416: re-sync through the status and
/// retry), or a plain failure.
fn session_refusal(status: u16, ctx: &str, resp: Response<Body>) -> Fail {
    let kind = match status {
        404 => FailKind::NotFound,
        416 => FailKind::Transient,
        _ => FailKind::Other,
    };
    Fail::new(kind, ctx, error_detail(resp))
}

/// The end of a `Range: 0-N` (or `bytes=0-N`) header.
fn range_end(r: &str) -> Option<u64> {
    let r = r.trim();
    let r = r.strip_prefix("bytes=").unwrap_or(r);
    let (start, end) = r.split_once('-')?;
    if start.trim() != "0" {
        return None;
    }
    end.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(range_end("0-2621500"), Some(2621500));
        assert_eq!(range_end("bytes=0-9"), Some(9));
        assert_eq!(range_end("0-0"), Some(0));
        assert_eq!(range_end("5-9"), None);
        assert_eq!(range_end("junk"), None);
    }
}
