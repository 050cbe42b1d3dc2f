//! Images named by digest alone (`REPO@sha256:…`), with no tag anywhere: pulled,
//! signed, verified, exported, imported and synced as such, and checked at the far
//! end by the real cosign. Also untagged layout entries named on import.

mod common;

use common::bed::Bed;
use common::oci::*;
use common::registry::{Mode, Registry};
use common::verifiers::*;
use common::*;
use serde_json::Value;

/// The entry names of a store, in order.
fn names(bed: &Bed) -> Vec<String> {
    bed.index()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn an_image_named_by_digest_alone_makes_the_whole_trip() {
    let Some(cosign) = need!(Tool::Cosign) else {
        return;
    };
    let Some(skopeo) = need!(Tool::Skopeo) else {
        return;
    };
    let (Some(src), Some(dst)) = (Registry::start(Mode::Plain), Registry::start(Mode::Plain))
    else {
        return;
    };
    // the vendor's registry holds the image under a tag
    let out = skopeo_push(
        &skopeo,
        &src,
        &fixtures().join("multi"),
        "v1",
        "vendor/app:v1",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = fixture_digest("multi");

    // online: pulled by digest alone, it is named by its digest
    let online = Bed::new();
    let by_digest = format!("{}/vendor/app@{digest}", src.host());
    ok(&mut online.cmd(&["pull", &by_digest]));
    assert_eq!(names(&online), vec![by_digest.clone()]);
    // with --platform, by the digest of the platform's manifest it keeps
    let arm = &child_digests("multi")[1];
    ok(&mut online.cmd(&["pull", &by_digest, "--platform", "linux/arm64/v8"]));
    assert!(
        names(&online).contains(&format!("{}/vendor/app@{arm}", src.host())),
        "{:?}",
        names(&online)
    );

    // carried across: export by digest, import
    let archive = online.path("carry.tar");
    ok(&mut online.cmd(&[
        "export",
        &by_digest,
        "--to",
        &format!("oci-archive:{}", s(&archive)),
    ]));
    let offline = Bed::new();
    ok(&mut offline.cmd(&["import", &format!("oci-archive:{}", s(&archive))]));
    assert_eq!(names(&offline), vec![by_digest.clone()]);

    // signed and verified by digest, every platform too
    let (key, public) = offline.keys("site");
    ok(&mut offline.cmd(&["sign", "--key", s(&key), "-r", &by_digest]));
    ok(&mut offline.cmd(&["verify", "--key", s(&public), &by_digest]));
    let listed: Value = serde_json::from_str(&ok(&mut offline.cmd(&["ls", "--json"]))).unwrap();
    let image = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reference"] == by_digest.as_str())
        .unwrap();
    assert_eq!(image["signatures"], 1);
    assert_eq!(image["platform_signatures"], 2);

    // back online: synced by digest, no tag made at the destination
    let report: Value = serde_json::from_str(&ok(&mut offline.cmd(&[
        "sync",
        "--all",
        "--json",
        "--map",
        &format!("{}/vendor={}/prod", src.host(), dst.host()),
    ])))
    .unwrap();
    assert_eq!(
        report["images"][0]["destination"],
        format!("{}/prod/app@{digest}", dst.host()).as_str(),
        "{report}"
    );
    let tags = run(std::process::Command::new(&skopeo)
        .args(["list-tags", "--tls-verify=false"])
        .arg(dst.docker_ref("prod/app")));
    let tags: Value = serde_json::from_slice(&tags.stdout).unwrap();
    let tags: Vec<&str> = tags["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tags.iter().all(|t| t.ends_with(".sig")),
        "only .sig tags: {tags:?}"
    );
    assert_eq!(tags.len(), 3, "{tags:?}");
    assert_eq!(
        raw_manifest(&skopeo, &dst, &format!("prod/app@{digest}")).map(|m| digest_of(&m)),
        Some(digest.clone())
    );
    // the identity is the source repository (as signed); cosign does not check it
    assert_cosign_verifies(&cosign, &dst, &public, &format!("prod/app@{digest}"));
    // a rerun sends nothing
    let again: Value = serde_json::from_str(&ok(&mut offline.cmd(&[
        "sync",
        "--all",
        "--json",
        "--map",
        &format!("{}/vendor={}/prod", src.host(), dst.host()),
    ])))
    .unwrap();
    assert_eq!(writes(&again), 0, "{again}");
}

/// An untagged image of a layout (crane, `oras cp` by digest) imported with
/// `--repository REPO` is named `REPO@sha256:…`; several of them each get theirs.
#[test]
fn untagged_layout_images_are_named_by_digest_on_import() {
    let bed = Bed::new();
    let src = TestLayout::new(&bed.path("src"));
    let (one, _) = src.image("amd64", "one");
    let (two, _) = src.multi("two");
    src.set_index(&[one.clone(), two.clone()]);
    let repo = "registry.example.com/team/app";
    ok(&mut bed.cmd(&[
        "import",
        &format!("oci:{}", s(&src.root)),
        "--repository",
        repo,
    ]));
    let mut got = names(&bed);
    got.sort();
    let mut want = vec![
        format!("{repo}@{}", one["digest"].as_str().unwrap()),
        format!("{repo}@{}", two["digest"].as_str().unwrap()),
    ];
    want.sort();
    assert_eq!(got, want);
    // without --repository: refused, saying how to name them
    let other = Bed::new();
    let err = fails(&mut other.cmd(&["import", &format!("oci:{}", s(&src.root))]));
    assert!(err.contains("--repository REGISTRY/REPO"), "{err}");
    // and each is found, signed and verified by digest
    let (key, public) = bed.keys("k");
    let first = &want[0];
    ok(&mut bed.cmd(&["sign", "--key", s(&key), first]));
    ok(&mut bed.cmd(&["verify", "--key", s(&public), first]));
}
