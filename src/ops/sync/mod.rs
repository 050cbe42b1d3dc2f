//! `airsign sync`: images and their `.sig`/`.att`/`.sbom` artifacts and OCI 1.1
//! referrers, from the store, an `oci:` directory or an `oci-archive:` tarball, to
//! registries, byte for byte, in dependency order (blobs, child manifests, the
//! tagged manifest or index, referrers, then the artifact tags, signatures last).
//!
//! - [`plan`]: what goes where, read and checked before the first request;
//! - [`push`]: running it on `--jobs` threads, merging with what is there;
//! - [`source`]: blobs of any source as seekable streams;
//! - [`journal`]: open upload sessions on disk, so a killed run's rerun resumes.
//!
//! See `docs/sync.md`.

mod journal;
mod plan;
mod push;
mod source;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use indicatif::MultiProgress;

use super::progress::{self, Unit};

use super::registry_access::RegistryAccess;
use crate::ops::Status;
use crate::reference::{Location, Reference};
use crate::registry::Repository;
use crate::signature::ArtifactKind;
use crate::store::Layout;
use crate::{Error, Result};
use journal::Journal;
use plan::{Selection, plan, select};
pub use push::{ArtifactReport, BlobCounts, ImageReport, ReferrerReport, Report};
use push::{Bars, Pusher};
use source::Source;

#[derive(Debug, Default)]
pub struct SyncOptions {
    pub all: bool,
    /// `oci:DIR` or `oci-archive:FILE` to push from instead of the store.
    pub from: Option<String>,
    /// `REGISTRY[/PREFIX]`.
    pub to: Option<String>,
    /// `FROM=TO` repository rewrites.
    pub map: Vec<String>,
    /// Credentials and TLS trust.
    pub registry: RegistryAccess,
    pub dry_run: bool,
    pub strict_identity: bool,
    pub json: bool,
    /// Units pushed at once, and blob transfers at once (0: the default, 4).
    pub jobs: usize,
    /// Where open upload sessions are kept (default: see [`state_dir`]).
    pub state_dir: Option<PathBuf>,
}

/// `--jobs` when not given.
pub const DEFAULT_JOBS: usize = 4;

pub fn run(store: &Path, images: &[String], opts: &SyncOptions) -> Result<()> {
    match (images.is_empty(), opts.all) {
        (true, false) => {
            return Err(Error::Usage(
                "name the images to sync, or pass --all".into(),
            ));
        }
        (false, true) => return Err(Error::Usage("give images or --all, not both".into())),
        _ => {}
    }
    let jobs = if opts.jobs == 0 {
        DEFAULT_JOBS
    } else {
        opts.jobs
    };
    let mut catalogs = super::Catalogs::new();
    // per opened layout: its label and what was asked of it
    let mut asked: Vec<(usize, String, Selection)> = Vec::new();
    let mut ask = |idx: usize, label: String, sel: Selection| match asked
        .iter_mut()
        .find(|(i, _, _)| *i == idx)
    {
        Some((_, _, Selection::Entries(have))) => {
            if let Selection::Entries(more) = sel {
                have.extend(more);
            }
        }
        Some(_) => {}
        None => asked.push((idx, label, sel)),
    };
    if let Some(from) = &opts.from {
        match Location::parse(from)? {
            Location::Layout {
                reference: None, ..
            }
            | Location::Archive {
                reference: None, ..
            } => {}
            _ => {
                return Err(Error::Usage(format!(
                    "--from {from:?}: expected oci:DIR or oci-archive:FILE (name the images as arguments)"
                )));
            }
        }
    }
    if opts.all {
        let (idx, label) = match &opts.from {
            Some(from) => (catalogs.lookup(store, from, false)?.0, from.clone()),
            None => (catalogs.store_catalog(store)?, store.display().to_string()),
        };
        ask(idx, label, Selection::All);
    } else {
        for image in images {
            let arg = match &opts.from {
                Some(from) => format!("{from}:{image}"),
                None => image.clone(),
            };
            let (idx, query) = catalogs.lookup(store, &arg, false)?;
            let label = match Location::parse(&arg)? {
                Location::Store(_) => store.display().to_string(),
                Location::Layout { path, .. } => format!("oci:{}", path.display()),
                Location::Archive { path, .. } => format!("oci-archive:{}", path.display()),
                Location::DockerArchive { .. } => unreachable!("refused by lookup"),
            };
            let catalog = catalogs.catalog(idx);
            let found = catalog.resolve(&query)?;
            ask(
                idx,
                label,
                Selection::Entries(select(catalog, found, image)?),
            );
        }
    }
    let sources: Vec<Source<'_>> = asked
        .iter()
        .map(|(idx, label, _)| Source {
            layout: catalogs.catalog(*idx).layout(),
            dir: catalogs.layout(*idx),
            label: label.clone(),
            scan_referrers: !catalogs.is_store(*idx),
        })
        .collect();
    let planned: Vec<_> = asked
        .into_iter()
        .zip(&sources)
        .map(|((idx, _, sel), src)| (src, catalogs.catalog(idx), sel))
        .collect();
    let units = plan(&planned, opts.to.as_deref(), &opts.map)?;
    drop(planned);

    for w in units.iter().flat_map(|u| &u.warnings) {
        eprintln!("airsign: warning: {w}");
    }
    if opts.strict_identity {
        let bad: Vec<&String> = units.iter().flat_map(|u| &u.warnings).collect();
        if !bad.is_empty() {
            return Err(Error::Usage(format!(
                "--strict-identity: {} signature(s) name another repository than their destination \
                 (first: {}); nothing was sent",
                bad.len(),
                bad[0]
            )));
        }
    }
    let client = opts.registry.client()?;
    let journal = match (opts.dry_run, state_dir(store, opts.state_dir.as_deref())) {
        (true, _) | (false, None) => Journal::none(),
        (false, Some(dir)) => Journal::at(&dir)?,
    };

    // find out once per registry whether a loopback one speaks plain HTTP, before
    // the workers would each probe it at the same time (a failure is reported by
    // the first real request)
    let mut hosts: Vec<&str> = units.iter().map(|u| u.dest.api_host()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    for h in hosts {
        client.probe(h);
    }

    let (multi, bars) = progress(units.len() as u64, opts.json);
    let pusher = Pusher::new(&sources, &client, opts.dry_run, jobs, &journal, &bars);
    // with one image, the final error says it all, on one line
    let many = units.len() > 1;
    let images = pusher.run(&units, &|unit, r| {
        if many {
            multi.suspend(|| {
                eprintln!(
                    "airsign: sync: {} -> {}: {}",
                    unit.source,
                    r.destination,
                    r.error.as_deref().unwrap_or("")
                );
            });
        }
    });
    bars.bytes.finish_and_clear();
    bars.images.finish_and_clear();
    for n in pusher.notes() {
        eprintln!("airsign: warning: {n}");
    }

    let mut report = Report {
        dry_run: opts.dry_run,
        failed: images.iter().filter(|i| i.error.is_some()).count(),
        ..Report::default()
    };
    // accounting: every .sig of the source reached the destination (a successful
    // PUT, or a HEAD that showed it, or a merge that holds all of it)
    if !opts.dry_run {
        for (unit, r) in units.iter().zip(&images) {
            for a in unit
                .artifacts
                .iter()
                .filter(|a| a.kind == ArtifactKind::Signature)
            {
                let ok = r.artifacts.iter().any(|x| {
                    x.tag == a.tag
                        && matches!(
                            x.status,
                            Status::Pushed | Status::Present | Status::Merged | Status::Contained
                        )
                });
                if !ok {
                    report
                        .missing_signatures
                        .push(format!("{}:{}", unit.dest, a.tag));
                }
            }
        }
    }
    report.images = images;
    report.requests = client.stats();
    if opts.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        )?;
    } else {
        print_human(&report, opts.dry_run)?;
    }
    if report.failed > 0 || !report.missing_signatures.is_empty() {
        let mut msg = format!(
            "sync failed for {} of {} image(s)",
            report.failed,
            report.images.len()
        );
        if let Some(e) = report.images.iter().find_map(|i| i.error.as_deref()) {
            let _ = write!(msg, " (first: {e})");
        }
        if !report.missing_signatures.is_empty() {
            let _ = write!(
                msg,
                "; signatures missing at the destination: {}",
                report.missing_signatures.join(", ")
            );
        }
        return Err(Error::Registry(msg));
    }
    Ok(())
}

/// Where open upload sessions are kept: `--state-dir`, else the store's private
/// `.airsign/sync/uploads` when the store exists (whatever the source: one place
/// to look), else `$XDG_STATE_HOME/airsign/sync/uploads` (`~/.local/state/…`).
/// `None` only when none of these can be named (no HOME).
pub fn state_dir(store: &Path, flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(d) = flag {
        return Some(d.to_path_buf());
    }
    if Layout::open(store).is_ok() {
        return Some(store.join(".airsign/sync/uploads"));
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(state.join("airsign/sync/uploads"))
}

/// Bytes and images, on stderr when it is a terminal and `--json` is off.
fn progress(units: u64, json: bool) -> (MultiProgress, Bars) {
    let show = progress::shown(json);
    let multi = progress::group(show);
    let bytes = progress::add(&multi, show, "sent", Unit::Bytes, 0);
    let images = progress::add(&multi, show, "images", Unit::Items, units);
    (multi, Bars { bytes, images })
}

// ---------------------------------------------------------------------------------
// Destinations

/// Where an image goes. `--map` rules are explicit overrides: the longest `FROM`
/// matching the source repository (`registry/path`, on component boundaries) gives
/// the destination and `--to` is not applied to it. Other images go to `--to`
/// (registry replaced, prefix added) or, without it, to their own repository.
pub fn destination(source: &Reference, to: Option<&str>, map: &[String]) -> Result<Repository> {
    let name = source.name();
    let mut best: Option<(&str, &str)> = None;
    for rule in map {
        let Some((from, dest)) = rule.split_once('=') else {
            return Err(Error::Usage(format!(
                "--map {rule:?}: expected FROM=TO (repository prefixes)"
            )));
        };
        let (from, dest) = (from.trim_end_matches('/'), dest.trim_end_matches('/'));
        if from.is_empty() || dest.is_empty() {
            return Err(Error::Usage(format!(
                "--map {rule:?}: FROM and TO must not be empty"
            )));
        }
        let hit = name == from
            || name
                .strip_prefix(from)
                .is_some_and(|rest| rest.starts_with('/'));
        if hit && best.is_none_or(|(f, _)| from.len() > f.len()) {
            best = Some((from, dest));
        }
    }
    let mapped = match (best, to) {
        (Some((from, dest)), _) => format!("{dest}{}", &name[from.len()..]),
        (None, Some(to)) => {
            let to = to.trim_end_matches('/');
            if to.is_empty() {
                return Err(Error::Usage("--to wants REGISTRY[/PREFIX]".into()));
            }
            format!("{to}/{}", source.repository())
        }
        (None, None) => return Ok(Repository::of(source)),
    };
    let (registry, path) = mapped.split_once('/').unwrap_or((&mapped, ""));
    if path.is_empty() {
        return Err(Error::Usage(format!(
            "{source}: maps to {mapped:?}, which names no repository on a registry"
        )));
    }
    Repository::new(registry, path).map_err(|e| {
        Error::Usage(format!(
            "{source}: maps to {mapped:?}, not a valid repository ({e})"
        ))
    })
}

// ---------------------------------------------------------------------------------
// Output

fn print_human(report: &Report, dry_run: bool) -> Result<()> {
    // failed images were reported as they failed, or are the final error
    for i in report.images.iter().filter(|i| i.error.is_none()) {
        let mut line = format!(
            "{}  {}  {}",
            i.status,
            i.destination,
            i.digest.as_deref().unwrap_or("(artifacts only)")
        );
        if dry_run {
            let _ = write!(
                line,
                "\n  blobs: {} present, {} missing ({} bytes to send); manifests: {} to push, {} present",
                i.blobs.present,
                i.blobs.missing,
                i.blobs.bytes_sent,
                i.manifests_pushed,
                i.manifests_present
            );
        } else {
            let _ = write!(
                line,
                " ({} blob(s) uploaded, {} mounted, {} present; {} bytes; {} manifest(s) pushed)",
                i.blobs.uploaded,
                i.blobs.mounted,
                i.blobs.present,
                i.blobs.bytes_sent,
                i.manifests_pushed
            );
        }
        if i.blobs.resumed > 0 {
            let _ = write!(
                line,
                "\n  resumed {} upload(s) left open by an earlier run ({} bytes not sent again)",
                i.blobs.resumed, i.blobs.resumed_bytes
            );
        }
        for x in &i.referrers {
            let _ = write!(
                line,
                "\n  {} {} ({} referrer(s)",
                x.status, x.tag, x.referrers
            );
            if x.kept > 0 {
                let _ = write!(line, ", {} kept from the destination", x.kept);
            }
            line.push(')');
        }
        for a in &i.artifacts {
            let _ = write!(line, "\n  {} {} ({} layer(s)", a.status, a.tag, a.layers);
            if a.kept_layers > 0 {
                let _ = write!(line, ", {} kept from the destination", a.kept_layers);
            }
            line.push(')');
        }
        if dry_run {
            outln!("{line}")?;
        } else {
            eprintln!("{line}");
        }
    }
    if report.failed == report.images.len() {
        return Ok(());
    }
    let s = &report.requests;
    let tally: BTreeMap<&str, u64> = BTreeMap::from([
        ("GET", s.get),
        ("HEAD", s.head),
        ("POST", s.post),
        ("PUT", s.put),
        ("PATCH", s.patch),
    ]);
    let tally: Vec<String> = tally
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(m, n)| format!("{n} {m}"))
        .collect();
    eprintln!(
        "{} {} image(s), {} failed; {} request(s) ({}), {} bytes sent",
        if dry_run { "planned" } else { "synced" },
        report.images.len(),
        report.failed,
        s.total,
        tally.join(", "),
        s.bytes_sent
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(src: &str, to: Option<&str>, map: &[&str]) -> Result<String> {
        let map: Vec<String> = map.iter().map(|s| s.to_string()).collect();
        destination(&Reference::parse(src).unwrap(), to, &map).map(|r| r.to_string())
    }

    #[test]
    fn destinations() {
        let src = "registry.example.com/team/app:v1";
        assert_eq!(
            dest(src, None, &[]).unwrap(),
            "registry.example.com/team/app"
        );
        assert_eq!(
            dest(src, Some("127.0.0.1:5000/mirror"), &[]).unwrap(),
            "127.0.0.1:5000/mirror/team/app"
        );
        assert_eq!(
            dest(src, Some("127.0.0.1:5000/"), &[]).unwrap(),
            "127.0.0.1:5000/team/app"
        );
        // --map wins over --to; the longest FROM wins; only whole components match
        assert_eq!(
            dest(
                src,
                Some("h:1"),
                &[
                    "registry.example.com=m:5000/x",
                    "registry.example.com/team=m:5000/t"
                ]
            )
            .unwrap(),
            "m:5000/t/app"
        );
        assert_eq!(
            dest(src, Some("h:1"), &["registry.example.com/te=m:5000/x"]).unwrap(),
            "h:1/team/app"
        );
        assert_eq!(
            dest(src, None, &["registry.example.com/team/app=m:5000/other"]).unwrap(),
            "m:5000/other"
        );
        assert!(dest(src, None, &["registry.example.com/team/app=m:5000"]).is_err());
        assert!(dest(src, None, &["nothing"]).is_err());
        assert!(dest(src, Some("h:1/UPPER"), &[]).is_err());
    }

    #[test]
    fn destinations_with_ports_ipv6_and_invalid_names() {
        let src = "registry.example.com/team/app:v1";
        assert_eq!(
            dest(src, Some("[::1]:5000/mirror"), &[]).unwrap(),
            "[::1]:5000/mirror/team/app"
        );
        assert_eq!(
            dest(src, None, &["registry.example.com/team=[::1]:5000/t"]).unwrap(),
            "[::1]:5000/t/app"
        );
        assert_eq!(
            dest(src, Some("localhost:5000"), &[]).unwrap(),
            "localhost:5000/team/app"
        );
        for bad in [
            "h:1/a//b",
            "h:1/a/../b",
            "h:1/./b",
            "h:1/x:tag",
            "h:1/x@sha256:00",
            "http://h:1/x",
            "h:1/-x",
            "h:notaport/x",
        ] {
            assert!(dest(src, Some(bad), &[]).is_err(), "--to {bad}");
            assert!(
                dest(src, None, &[&format!("registry.example.com/team={bad}")]).is_err(),
                "--map …={bad}"
            );
        }
    }
}
