//! `airsign ls`: what the store holds, one line per image, readable at 80 columns.
//!
//! Each image's signatures and attestations are counted as columns of its line — its
//! own and its platform manifests' (`1+2`), cosign `.sig` layers and cosign 3
//! bundles alike; with `--key` only the signatures that verify with it. The `.sig`,
//! `.att` and `.sbom` entries that hold them are lines of their own only with
//! `--all`. `--json` lists every entry, as before.

use std::path::Path;

use crate::Result;
use crate::keys;
use crate::signature::inventory::inventory;
use crate::signature::policy::Trust;
use crate::store::ReadLayout;
use crate::store::listing::{Entry, list};
use crate::store::resolve::Catalog;

/// The width the table keeps to (a long name gets a line of its own instead).
const COLUMNS: usize = 80;
/// The name column is never narrower than this.
const MIN_NAME: usize = 20;

#[derive(Debug, Default)]
pub struct LsOptions {
    pub json: bool,
    /// Also the artifact entries (`.sig`, `.att`, `.sbom`, referrers with an entry).
    pub all: bool,
    /// Count only the signatures that verify with this public key.
    pub key: Option<String>,
}

/// What signs and refers to one image, as its line shows it.
#[derive(Debug, Default)]
struct Counts {
    sigs: usize,
    platform_sigs: usize,
    atts: usize,
    platform_atts: usize,
    /// Referrers that are neither (notation signatures, SBOMs, others), by kind.
    other: std::collections::BTreeMap<&'static str, usize>,
}

pub fn run(store: &Path, location: Option<&str>, opts: &LsOptions) -> Result<()> {
    // the key first: a wrong one costs nothing else
    let trust = opts
        .key
        .as_deref()
        .map(|k| -> Result<Trust> {
            Ok(Trust {
                key: Some(keys::load_public_key(k)?),
                ..Trust::default()
            })
        })
        .transpose()?;
    let layout: Box<dyn ReadLayout> = match location {
        None => Box::new(super::open_store(store)?),
        Some(loc) => super::open_location(loc)?,
    };
    // the store lists every referrer it holds; another layout may keep some only in
    // its blobs
    let entries = list(layout.as_ref(), location.is_some())?;
    let catalog = Catalog::open(layout.as_ref())?;
    let mut counted = Vec::with_capacity(entries.len());
    for ((d, name), e) in catalog.entries().zip(&entries) {
        if e.artifact {
            counted.push(None);
            continue;
        }
        let mut c = Counts::default();
        for l in inventory(&catalog, name, d, &e.reference, trust.as_ref())? {
            let own = l.subject == d.digest.to_string();
            match l.format {
                "sig" | "bundle" if trust.is_none() || l.verified == Some(true) => {
                    *if own {
                        &mut c.sigs
                    } else {
                        &mut c.platform_sigs
                    } += 1;
                }
                "sig" | "bundle" => {}
                "att" | "bundle-attestation" => {
                    *if own {
                        &mut c.atts
                    } else {
                        &mut c.platform_atts
                    } += 1;
                }
                other => *c.other.entry(other).or_insert(0) += 1,
            }
        }
        counted.push(Some(c));
    }
    if opts.json {
        let listed: Vec<JsonEntry> = entries
            .iter()
            .zip(&counted)
            .map(|(e, c)| json_entry(e, c.as_ref(), trust.is_some()))
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&listed).expect("serialisable")
        )?;
        return Ok(());
    }
    let rows: Vec<[String; 6]> = entries
        .iter()
        .zip(&counted)
        .filter(|(e, _)| opts.all || !e.artifact)
        .map(|(e, c)| row(e, c.as_ref()))
        .collect();
    let sigs = if trust.is_some() { "VALID" } else { "SIGS" };
    let header = ["IMAGE", "DIGEST", "PLATFORMS", sigs, "ATTS", "OTHER"].map(str::to_owned);
    let width = |i: usize| {
        std::iter::once(&header)
            .chain(&rows)
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
    };
    let w: Vec<usize> = (0..6).map(width).collect();
    // the name column as wide as the longest name, unless that would take a line
    // past 80 columns: a longer name then has a line of its own, the columns below it
    let rest: usize = w[1..].iter().sum::<usize>() + 2 * 5;
    let w0 = w[0].min(COLUMNS.saturating_sub(rest).max(MIN_NAME));
    for r in std::iter::once(&header).chain(&rows) {
        let name = if r[0].chars().count() > w0 {
            outln!("{}", r[0])?;
            ""
        } else {
            r[0].as_str()
        };
        // names and platforms to the left, counts to the right
        outln!(
            "{name:w0$}  {:w1$}  {:w2$}  {:>w3$}  {:>w4$}  {:>w5$}",
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5],
        )?;
    }
    if rows.is_empty() {
        eprintln!(
            "(no images{})",
            if opts.all {
                ""
            } else {
                "; --all lists artifacts too"
            }
        );
    }
    Ok(())
}

/// A line of the table: name, short digest, platforms, signatures, attestations,
/// other referrers (notation signatures, SBOMs…: `airsign signatures` tells them).
fn row(e: &Entry, c: Option<&Counts>) -> [String; 6] {
    let digest: String = e.digest.hex().chars().take(12).collect();
    let platforms = match e.platforms.as_slice() {
        [] => "-".to_owned(),
        [one] => one.clone(),
        many => format!("{} platforms", many.len()),
    };
    let Some(c) = c else {
        // an artifact entry (`--all`): its name says what it is
        return [
            e.reference.clone(),
            digest,
            platforms,
            "-".into(),
            "-".into(),
            "-".into(),
        ];
    };
    let pair = |own: usize, platform: usize| {
        if platform > 0 {
            format!("{own}+{platform}")
        } else {
            own.to_string()
        }
    };
    [
        e.reference.clone(),
        digest,
        platforms,
        pair(c.sigs, c.platform_sigs),
        pair(c.atts, c.platform_atts),
        c.other.values().sum::<usize>().to_string(),
    ]
}

/// An entry as `--json` gives it: the listing's fields, and for an image its
/// attestations and, with `--key`, how many signatures verify.
#[derive(serde::Serialize)]
struct JsonEntry<'a> {
    #[serde(flatten)]
    entry: &'a Entry,
    #[serde(skip_serializing_if = "Option::is_none")]
    attestations: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified_signatures: Option<usize>,
}

fn json_entry<'a>(e: &'a Entry, c: Option<&Counts>, keyed: bool) -> JsonEntry<'a> {
    JsonEntry {
        entry: e,
        attestations: c.map(|c| c.atts + c.platform_atts),
        verified_signatures: c.filter(|_| keyed).map(|c| c.sigs + c.platform_sigs),
    }
}
