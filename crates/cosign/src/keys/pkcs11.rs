//! Keys in PKCS#11 tokens (HSMs, smart cards, SoftHSM2), named as cosign names them:
//! an RFC 7512 URI, `pkcs11:token=T;object=O?module-path=M&pin-value=P`.
//!
//! The URI is read as cosign's `pkcs11key.Pkcs11UriConfig.Parse` reads it: the path
//! attributes (`token`, `slot-id`, `object`, `id`; `;`-separated) and the query
//! attributes (`module-path`, `pin-value`) are percent-decoded; the module comes
//! from `module-path`, else `COSIGN_PKCS11_MODULE_PATH`, and must be an absolute path
//! to a regular file; a token (`token` or `slot-id`) and a key (`object` or `id`) must
//! be named. Other attributes are ignored, as cosign ignores them.
//!
//! The PIN comes from the URI's `pin-value`, else `COSIGN_PKCS11_PIN`, else a prompt
//! on the terminal (only when the token says it needs a login). It is held in
//! zeroizing memory, handed to the module once, and never printed: the URI is shown
//! with `pin-value` blanked.
//!
//! Signing is cosign's (crypto11's): the message hashed here (SHA-256 for P-256 and
//! RSA, SHA-384 for P-384, SHA-512 for P-521), `CKM_ECDSA` in the token over the
//! digest with its `r‖s` re-encoded as ASN.1 DER, `CKM_RSA_PKCS` over a SHA-256
//! DigestInfo (PKCS#1 v1.5) or, with `--signing-algorithm rsa-sign-pss-*`,
//! `CKM_RSA_PKCS_PSS` (SHA-256, MGF1-SHA-256, 32-byte salt); an Ed25519 key signs
//! the whole message in the token (`CKM_EDDSA`, pure Ed25519). Every signature is
//! checked against the key's public half before it is used, so a public object that
//! does not belong to the private key is an error, not a bad signature.

use std::fmt;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{AuthPin, Ulong};
use zeroize::Zeroizing;

use super::{Algorithm, HashAlg, PublicKey};
use crate::{Error, Result};

/// The scheme, as cosign spells it (no `//`).
pub const SCHEME: &str = "pkcs11:";
/// The module when the URI has no `module-path` (cosign's variable).
pub const MODULE_PATH_VAR: &str = "COSIGN_PKCS11_MODULE_PATH";
/// The PIN when the URI has no `pin-value` (cosign's variable).
pub const PIN_VAR: &str = "COSIGN_PKCS11_PIN";

/// DER of the OID prime256v1 (1.2.840.10045.3.1.7), as `CKA_EC_PARAMS` holds it.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of the OIDs secp384r1 (1.3.132.0.34) and secp521r1 (1.3.132.0.35).
const P384_PARAMS: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const P521_PARAMS: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
/// `CKA_EC_PARAMS` of an Ed25519 key: the OID id-Ed25519 (1.3.101.112), or the
/// PrintableString "edwards25519" (PKCS#11 3.0's curve name; SoftHSM2 2.6 and
/// pkcs11-tool write this one).
const ED25519_OID_PARAMS: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];
const ED25519_NAME_PARAMS: &[u8] = b"\x13\x0cedwards25519";

/// A parsed `pkcs11:` key URI.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `module-path` from the URI (the variable is read when the token is opened).
    pub module_path: Option<PathBuf>,
    pub slot_id: Option<u64>,
    pub token: Option<String>,
    /// The key's `CKA_LABEL`.
    pub object: Option<String>,
    /// The key's `CKA_ID`, percent-decoded bytes.
    pub id: Option<Vec<u8>>,
    pin: Option<Zeroizing<String>>,
    /// The URI as given, `pin-value` blanked: what messages show.
    shown: String,
}

impl Pkcs11Uri {
    /// Parses a `pkcs11:` URI by cosign's rules (module path checks excepted: they
    /// are made by [`Pkcs11Uri::module`], where the variable is read too).
    pub fn parse(uri: &str) -> Result<Self> {
        let bad = |why: &str| Error::Usage(format!("invalid pkcs11 URI: {why}"));
        let rest = uri
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("does not start with 'pkcs11:'"))?;
        // a fragment is no part of either attribute list (Go's url.Parse drops it)
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path_attrs = parse_attributes(path, ';').map_err(|e| bad(&e))?;
        let query_attrs = parse_attributes(query, '&').map_err(|e| bad(&e))?;
        let get = |attrs: &[(String, Vec<u8>)], name: &str| -> Result<Option<String>> {
            match attrs.iter().find(|(k, _)| k == name) {
                None => Ok(None),
                Some((_, v)) if v.is_empty() => Ok(None),
                Some((_, v)) => String::from_utf8(v.clone())
                    .map(Some)
                    .map_err(|_| bad(&format!("{name} is not UTF-8"))),
            }
        };
        let token = get(&path_attrs, "token")?;
        let slot_id = match get(&path_attrs, "slot-id")? {
            None => None,
            Some(s) => Some(
                s.parse::<u64>()
                    .map_err(|_| bad("slot-id must be a number"))?,
            ),
        };
        if token.is_none() && slot_id.is_none() {
            return Err(bad("one of token and slot-id must be set"));
        }
        let object = get(&path_attrs, "object")?;
        let id = path_attrs
            .iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty());
        if object.is_none() && id.is_none() {
            return Err(bad("one of object and id must be set"));
        }
        let module_path = get(&query_attrs, "module-path")?.map(PathBuf::from);
        let pin = query_attrs
            .iter()
            .find(|(k, _)| k == "pin-value")
            .filter(|(_, v)| !v.is_empty())
            .map(|(_, v)| {
                String::from_utf8(v.clone())
                    .map(Zeroizing::new)
                    .map_err(|_| bad("pin-value is not UTF-8"))
            })
            .transpose()?;
        Ok(Pkcs11Uri {
            module_path,
            slot_id,
            token,
            object,
            id,
            pin,
            shown: blank_pin(uri),
        })
    }

    /// Whether the URI itself carries the PIN.
    pub fn has_pin(&self) -> bool {
        self.pin.is_some()
    }

    /// The module: `module-path`, else `COSIGN_PKCS11_MODULE_PATH`; absolute, a
    /// regular file (cosign's checks, its words).
    pub fn module(&self) -> Result<PathBuf> {
        let path = match &self.module_path {
            Some(p) => p.clone(),
            None => match std::env::var_os(MODULE_PATH_VAR) {
                Some(v) if !v.is_empty() => PathBuf::from(v),
                _ => {
                    return Err(Error::Usage(format!(
                        "{self}: no PKCS#11 module: add module-path=/path/to/module.so to the \
                         URI, or set {MODULE_PATH_VAR}"
                    )));
                }
            },
        };
        check_module(&path)?;
        Ok(path)
    }

    /// The key, as messages name it.
    fn key_name(&self) -> String {
        match (&self.object, &self.id) {
            (Some(o), Some(id)) => format!("object {o:?} (id {})", hex(id)),
            (Some(o), None) => format!("object {o:?}"),
            (None, Some(id)) => format!("id {}", hex(id)),
            (None, None) => "the key".into(),
        }
    }

    /// The token, as messages name it.
    fn token_name(&self) -> String {
        match (&self.token, self.slot_id) {
            (Some(t), _) => format!("token {t:?}"),
            (None, Some(s)) => format!("the token in slot {s}"),
            (None, None) => "the token".into(),
        }
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Never the PIN.
impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Uri({})", self.shown)
    }
}

/// The module path's checks, cosign's: absolute, exists, a regular file.
pub fn check_module(path: &Path) -> Result<()> {
    if !path.is_absolute() {
        return Err(Error::Usage(format!(
            "PKCS#11 module-path {}: must be an absolute path",
            path.display()
        )));
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::Key(format!(
            "PKCS#11 module {}: not a regular file",
            path.display()
        ))),
        Err(e) => Err(Error::Key(format!(
            "PKCS#11 module {}: not found ({})",
            path.display(),
            std::io::Error::from(e.kind())
        ))),
    }
}

/// `a=b;c=d` (or `&`-separated) → pairs, values percent-decoded as Go's
/// `url.ParseQuery` decodes them (`+` is a space).
fn parse_attributes(text: &str, sep: char) -> std::result::Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for part in text.split(sep).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = String::from_utf8(percent_decode(k)?).map_err(|_| "a name is not UTF-8")?;
        out.push((k, percent_decode(v)?));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> std::result::Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hexval = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent escape in {:?}", blank_pin(s)))?;
                out.push(hexval);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The URI with `pin-value`'s value replaced: what may be printed.
fn blank_pin(uri: &str) -> String {
    let Some(start) = uri.find("pin-value=") else {
        return uri.to_owned();
    };
    let value = start + "pin-value=".len();
    let end = uri[value..]
        .find(['&', '#'])
        .map_or(uri.len(), |e| value + e);
    format!("{}***{}", &uri[..value], &uri[end..])
}

use airsign_oci::digest::hex_lower as hex;

/// The PIN: the URI's, else `COSIGN_PKCS11_PIN`, else asked on the terminal.
fn pin_for(uri: &Pkcs11Uri, prompt: bool) -> Result<Option<Zeroizing<String>>> {
    if let Some(p) = &uri.pin {
        return Ok(Some(p.clone()));
    }
    if let Some(v) = std::env::var_os(PIN_VAR) {
        let v = Zeroizing::new(v.into_encoded_bytes());
        let s = std::str::from_utf8(&v)
            .map_err(|_| Error::Key(format!("{PIN_VAR} is not UTF-8")))?
            .to_owned();
        return Ok(Some(Zeroizing::new(s)));
    }
    if !prompt {
        return Ok(None);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Key(format!(
            "{uri}: {} needs a PIN: set {PIN_VAR} (or run on a terminal to be asked)",
            uri.token_name()
        )));
    }
    let typed = rpassword::prompt_password(format!(
        "Enter PIN for key {} in PKCS11 token {}: ",
        uri.object.as_deref().unwrap_or(""),
        uri.token.as_deref().unwrap_or("")
    ))
    .map_err(|e| Error::io("reading the PIN from the terminal", e))?;
    Ok(Some(Zeroizing::new(typed)))
}

/// A token error in one line, naming what was being done.
fn p11(uri: &Pkcs11Uri, doing: &str, e: P11Error) -> Error {
    let why = match &e {
        P11Error::Pkcs11(RvError::PinIncorrect, _) => {
            return Error::Key(format!("{uri}: wrong PIN for {}", uri.token_name()));
        }
        P11Error::Pkcs11(RvError::PinLocked, _) => {
            return Error::Key(format!("{uri}: the PIN of {} is locked", uri.token_name()));
        }
        P11Error::Pkcs11(
            RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed,
            _,
        ) => {
            return Error::Key(format!(
                "{uri}: {} was removed or closed while {doing}; nothing was written",
                uri.token_name()
            ));
        }
        P11Error::Pkcs11(rv, _) => format!("{rv}"),
        other => other.to_string(),
    };
    Error::Key(format!("{uri}: {doing}: {why}"))
}

/// The module, loaded and initialized.
fn load_module(uri: &Pkcs11Uri, module: &Path) -> Result<Pkcs11> {
    let ctx = Pkcs11::new(module).map_err(|e| {
        Error::Key(format!(
            "{uri}: cannot load the PKCS#11 module {}: {e}",
            module.display()
        ))
    })?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| p11(uri, "initializing the PKCS#11 module", e))?;
    Ok(ctx)
}

/// The slot whose token the URI names (label and/or slot id).
fn find_slot(uri: &Pkcs11Uri, ctx: &Pkcs11) -> Result<Slot> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| p11(uri, "listing the slots", e))?;
    let mut labels = Vec::new();
    for slot in slots {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| p11(uri, "reading the token information", e))?;
        let label = info.label().trim_end().to_owned();
        if uri.token.as_ref().is_none_or(|t| *t == label) {
            return Ok(slot);
        }
        // (an uninitialized token has no label: nothing to name)
        if !label.is_empty() {
            labels.push(label);
        }
    }
    let have = if labels.is_empty() {
        String::new()
    } else {
        format!(" (tokens there: {})", labels.join(", "))
    };
    Err(Error::Key(format!(
        "{uri}: no {} in the module{have}",
        uri.token_name().trim_start_matches("the ")
    )))
}

/// Objects of `class` with the URI's label and id.
fn find_keys(uri: &Pkcs11Uri, session: &Session, class: ObjectClass) -> Result<Vec<ObjectHandle>> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(o) = &uri.object {
        template.push(Attribute::Label(o.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    session
        .find_objects(&template)
        .map_err(|e| p11(uri, "looking for the key", e))
}

/// Exactly one object, or the error that says which is wrong.
fn one(uri: &Pkcs11Uri, found: Vec<ObjectHandle>, what: &str) -> Result<ObjectHandle> {
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::Key(format!(
            "{uri}: no {what} with {} in {}",
            uri.key_name(),
            uri.token_name()
        ))),
        _ => Err(Error::Key(format!(
            "{uri}: {} {what}s match {} in {}: name it by object and id",
            found.len(),
            uri.key_name(),
            uri.token_name()
        ))),
    }
}

/// The public key of a public key object: EC on P-256, P-384 or P-521, from
/// `CKA_EC_POINT` (a DER OCTET STRING holding the SEC1 point; some modules give the
/// bare point), or RSA 2048/3072/4096 from `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT`.
fn public_key(uri: &Pkcs11Uri, session: &Session, object: ObjectHandle) -> Result<PublicKey> {
    let attrs = session
        .get_attributes(
            object,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )
        .map_err(|e| p11(uri, "reading the public key", e))?;
    let (mut key_type, mut params, mut point) = (None, None, None);
    let (mut modulus, mut exponent) = (None, None);
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            Attribute::Modulus(n) => modulus = Some(n),
            Attribute::PublicExponent(e) => exponent = Some(e),
            _ => {}
        }
    }
    if key_type == Some(KeyType::RSA) {
        let (Some(n), Some(e)) = (modulus, exponent) else {
            return Err(Error::Key(format!(
                "{uri}: the RSA public key has no CKA_MODULUS or CKA_PUBLIC_EXPONENT"
            )));
        };
        return PublicKey::rsa_from_parts(&n, &e).map_err(|e| match e {
            Error::Key(m) => Error::Key(format!("{uri}: {m}")),
            other => other,
        });
    }
    if key_type == Some(KeyType::EC_EDWARDS) {
        if !matches!(params.as_deref(), Some(p) if p == ED25519_OID_PARAMS || p == ED25519_NAME_PARAMS)
        {
            return Err(Error::Key(format!(
                "{uri}: the Edwards key is not on edwards25519; airsign signs with Ed25519 \
                 token keys only (not Ed448)"
            )));
        }
        let point = point
            .ok_or_else(|| Error::Key(format!("{uri}: the public key has no CKA_EC_POINT")))?;
        // a DER OCTET STRING holding the 32-byte key, or the bare key
        let bytes = match point.as_slice() {
            [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
            bare => bare,
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::Key(format!(
                "{uri}: the token's Ed25519 key is {} bytes, not 32",
                bytes.len()
            ))
        })?;
        return ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(PublicKey::Ed25519)
            .map_err(|_| {
                Error::Key(format!(
                    "{uri}: the token's Ed25519 key is not a valid point"
                ))
            });
    }
    if key_type != Some(KeyType::EC) {
        let t = key_type.map_or_else(|| "unknown".to_owned(), |t| t.to_string());
        return Err(Error::Key(format!(
            "{uri}: the key is of type {t}; airsign signs with EC (P-256, P-384, P-521), \
             RSA (2048, 3072, 4096) and Ed25519 token keys"
        )));
    }
    let curve = match params.as_deref() {
        Some(p) if p == P256_PARAMS => "P-256",
        Some(p) if p == P384_PARAMS => "P-384",
        Some(p) if p == P521_PARAMS => "P-521",
        _ => {
            return Err(Error::Key(format!(
                "{uri}: the EC key is not on P-256, P-384 or P-521; airsign signs with token \
                 keys on those curves only"
            )));
        }
    };
    let point =
        point.ok_or_else(|| Error::Key(format!("{uri}: the public key has no CKA_EC_POINT")))?;
    let sec1 = match point.as_slice() {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        // P-521's 133-byte point needs DER's long form of the length
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => rest,
        bare => bare,
    };
    let key = match curve {
        "P-256" => p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map(PublicKey::P256),
        "P-384" => p384::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map(PublicKey::P384),
        _ => p521::ecdsa::VerifyingKey::from_sec1_bytes(sec1).map(PublicKey::P521),
    };
    key.map_err(|_| {
        Error::Key(format!(
            "{uri}: the token's EC point is not a {curve} point"
        ))
    })
}

/// An open session on the URI's token, and the module it came from.
fn open_session(uri: &Pkcs11Uri) -> Result<(Session, Slot, Pkcs11)> {
    let module = uri.module()?;
    let ctx = load_module(uri, &module)?;
    let slot = find_slot(uri, &ctx)?;
    let session = ctx
        .open_ro_session(slot)
        .map_err(|e| p11(uri, "opening a session", e))?;
    Ok((session, slot, ctx))
}

fn login(uri: &Pkcs11Uri, session: &Session, pin: &Zeroizing<String>) -> Result<()> {
    let auth = AuthPin::new(pin.as_str().into());
    match session.login(UserType::User, Some(&auth)) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(p11(uri, "logging in", e)),
    }
}

/// A private key in a token, with its public half, ready to sign.
pub struct TokenKey {
    uri: Pkcs11Uri,
    /// Sessions are not `Sync`: one signature at a time.
    session: Mutex<Session>,
    key: ObjectHandle,
    public: PublicKey,
    /// An RSA key signs with PSS (`--signing-algorithm rsa-sign-pss-*`), not PKCS#1 v1.5.
    pss: bool,
    /// Keeps the module loaded (and finalizes it last).
    _module: Pkcs11,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKey({})", self.uri)
    }
}

impl TokenKey {
    /// Opens the URI's key for signing: logs in (PIN by the rules above), finds the
    /// private key and its public key object, checks they are one EC P-256 pair.
    pub fn open(uri: &Pkcs11Uri) -> Result<Self> {
        let (session, slot, ctx) = open_session(uri)?;
        let login_required = ctx
            .get_token_info(slot)
            .map_err(|e| p11(uri, "reading the token information", e))?
            .login_required();
        if let Some(pin) = pin_for(uri, login_required)? {
            login(uri, &session, &pin)?;
        }
        let key = one(
            uri,
            find_keys(uri, &session, ObjectClass::PRIVATE_KEY)?,
            "private key",
        )?;
        let public_object = one(
            uri,
            find_keys(uri, &session, ObjectClass::PUBLIC_KEY)?,
            "public key object",
        )
        .map_err(|e| {
            Error::Key(format!(
                "{e} (the private key is there: its public key object, same label and id, \
                 is needed too)"
            ))
        })?;
        let public = public_key(uri, &session, public_object)?;
        let token = TokenKey {
            uri: uri.clone(),
            session: Mutex::new(session),
            key,
            public,
            pss: false,
            _module: ctx,
        };
        // one signature now: a private key that is not the public key's fails here,
        // before anything is hashed or written
        token.sign(b"airsign pkcs11 key check")?;
        Ok(token)
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The algorithm this key signs with: the key's own, or RSA-PSS when asked.
    pub fn algorithm(&self) -> Algorithm {
        match (self.public.default_algorithm(), self.pss) {
            (Algorithm::RsaPkcs1Sha256(bits), true) => Algorithm::RsaPssSha256(bits),
            (alg, _) => alg,
        }
    }

    /// `--signing-algorithm`: PSS or PKCS#1 v1.5 for an RSA key (the token signs
    /// with `CKM_RSA_PKCS_PSS`: SHA-256, MGF1-SHA-256, 32-byte salt, as a key file
    /// signs PSS); any other key must be asked for its own algorithm.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Result<TokenKey> {
        match (self.public.default_algorithm(), algorithm) {
            (Algorithm::RsaPkcs1Sha256(have), Algorithm::RsaPssSha256(want))
            | (Algorithm::RsaPkcs1Sha256(have), Algorithm::RsaPkcs1Sha256(want))
                if have == want =>
            {
                self.pss = matches!(algorithm, Algorithm::RsaPssSha256(_));
                Ok(self)
            }
            (own, _) if own == algorithm => Ok(self),
            (own, _) => Err(Error::Usage(format!(
                "--signing-algorithm {algorithm}: the token key is {} ({own})",
                self.public.kind()
            ))),
        }
    }

    /// Signs `message`: hashed here with the key's hash and signed in the token,
    /// or, for Ed25519, sent whole to the token (`CKM_EDDSA`, pure Ed25519, as
    /// cosign signs with an Ed25519 key); checked against the public key.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let Some(hash) = self.public.hash() else {
            let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
            let sig = self.sign_raw(&mechanism, message)?;
            self.public
                .verify(message, &sig)
                .map_err(|_| self.not_one_pair())?;
            return Ok(sig);
        };
        self.sign_prehash(&hash.digest(message))
    }

    fn sign_raw(&self, mechanism: &Mechanism, input: &[u8]) -> Result<Vec<u8>> {
        let session = self
            .session
            .lock()
            .map_err(|_| Error::Key(format!("{}: the token session is unusable", self.uri)))?;
        session
            .sign(mechanism, self.key, input)
            .map_err(|e| p11(&self.uri, "signing", e))
    }

    fn not_one_pair(&self) -> Error {
        Error::Key(format!(
            "{}: the token's signature does not verify with the key's public key object \
             (the private and public objects of {} are not one pair)",
            self.uri,
            self.uri.key_name()
        ))
    }

    /// Signs a digest by the key's hash in the token: ECDSA (SHA-256 for P-256,
    /// SHA-384 for P-384, SHA-512 for P-521) as ASN.1 DER, or RSA over SHA-256
    /// (PKCS#1 v1.5, or PSS when asked); checked against the public key. An Ed25519
    /// key signs the message itself ([`TokenKey::sign`]), never a digest.
    pub fn sign_prehash(&self, digest: &[u8]) -> Result<Vec<u8>> {
        let Some(hash) = self.public.hash() else {
            return Err(Error::Key(format!(
                "{}: an Ed25519 token key signs the message itself, not a digest",
                self.uri
            )));
        };
        let rsa = matches!(self.public, PublicKey::Rsa(_));
        let (mechanism, input) = if rsa && self.pss {
            // PSS over SHA-256 with MGF1-SHA-256 and a 32-byte salt, as a key file
            // signs rsa-sign-pss-* (and Go's crypto/rsa with PSSSaltLengthEqualsHash)
            let params = PkcsPssParams {
                hash_alg: MechanismType::SHA256,
                mgf: PkcsMgfType::MGF1_SHA256,
                s_len: Ulong::try_from(HashAlg::Sha256.output_len())
                    .map_err(|e| Error::Key(format!("{}: {e}", self.uri)))?,
            };
            (Mechanism::RsaPkcsPss(params), digest.to_vec())
        } else if rsa {
            // PKCS#1 v1.5 over SHA-256, as cosign signs with an RSA key: the token
            // pads the DigestInfo (RFC 8017 9.2) it is given
            let mut info = SHA256_DIGEST_INFO.to_vec();
            info.extend_from_slice(digest);
            (Mechanism::RsaPkcs, info)
        } else {
            (Mechanism::Ecdsa, digest.to_vec())
        };
        let raw = self.sign_raw(&mechanism, &input)?;
        let sig = if rsa {
            raw
        } else {
            self.public.ecdsa_raw_to_der(&raw).map_err(|_| {
                Error::Key(format!(
                    "{}: the token returned {} bytes, not an {} signature",
                    self.uri,
                    raw.len(),
                    self.public.kind()
                ))
            })?
        };
        self.public
            .verify_prehash(hash, digest, &sig)
            .map_err(|_| self.not_one_pair())?;
        Ok(sig)
    }
}

/// The DER prefix of a PKCS#1 DigestInfo for SHA-256 (RFC 8017, 9.2 note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The public half of a token key, for verification and `public-key`: no login
/// unless the PIN is given (URI or `COSIGN_PKCS11_PIN`), or the public key object is
/// only visible after one (then asked for when `prompt`).
pub fn public_key_of(uri: &Pkcs11Uri, prompt: bool) -> Result<PublicKey> {
    let (session, slot, ctx) = open_session(uri)?;
    if let Some(pin) = pin_for(uri, false)? {
        login(uri, &session, &pin)?;
    }
    let mut found = find_keys(uri, &session, ObjectClass::PUBLIC_KEY)?;
    let login_required = ctx
        .get_token_info(slot)
        .map_err(|e| p11(uri, "reading the token information", e))?
        .login_required();
    if found.is_empty()
        && login_required
        && pin_for(uri, false)?.is_none()
        && let Some(pin) = pin_for(uri, prompt)?
    {
        login(uri, &session, &pin)?;
        found = find_keys(uri, &session, ObjectClass::PUBLIC_KEY)?;
    }
    let object = one(uri, found, "public key object")?;
    public_key(uri, &session, object)
}

/// A token, as `pkcs11 list-tokens` shows it.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub slot_id: u64,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
}

/// A key, as `pkcs11 list-keys-uris` shows it.
#[derive(Clone, Debug)]
pub struct KeyInfo {
    pub label: String,
    pub id: Vec<u8>,
    /// Its URI, without the PIN.
    pub uri: String,
}

/// Loads a module for listing (cosign's `pkcs11-tool`).
fn listing_module(module: &Path) -> Result<Pkcs11> {
    check_module(module)?;
    let ctx = Pkcs11::new(module).map_err(|e| {
        Error::Key(format!(
            "cannot load the PKCS#11 module {}: {e}",
            module.display()
        ))
    })?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| {
            Error::Key(format!(
                "PKCS#11 module {}: initializing: {e}",
                module.display()
            ))
        })?;
    Ok(ctx)
}

/// The tokens the module has.
pub fn list_tokens(module: &Path) -> Result<Vec<TokenInfo>> {
    let ctx = listing_module(module)?;
    let fail = |e: P11Error| Error::Key(format!("PKCS#11 module {}: {e}", module.display()));
    let mut out = Vec::new();
    for slot in ctx.get_slots_with_token().map_err(fail)? {
        let info = ctx.get_token_info(slot).map_err(fail)?;
        out.push(TokenInfo {
            slot_id: slot.id(),
            label: info.label().trim_end().to_owned(),
            manufacturer: info.manufacturer_id().trim_end().to_owned(),
            model: info.model().trim_end().to_owned(),
            serial: info.serial_number().trim_end().to_owned(),
        });
    }
    Ok(out)
}

/// The private keys in the token of `slot_id`, each with the URI that names it.
pub fn list_keys(module: &Path, slot_id: u64) -> Result<Vec<KeyInfo>> {
    let ctx = listing_module(module)?;
    let fail = |e: P11Error| Error::Key(format!("PKCS#11 module {}: {e}", module.display()));
    let slot = ctx
        .get_slots_with_token()
        .map_err(fail)?
        .into_iter()
        .find(|s| s.id() == slot_id)
        .ok_or_else(|| {
            Error::Key(format!(
                "PKCS#11 module {}: no token in slot {slot_id} (`airsign pkcs11 list-tokens` \
                 lists them)",
                module.display()
            ))
        })?;
    let info = ctx.get_token_info(slot).map_err(fail)?;
    let token = info.label().trim_end().to_owned();
    // a pseudo URI for messages and the PIN rules
    let mut uri = Pkcs11Uri {
        module_path: Some(module.to_path_buf()),
        slot_id: Some(slot_id),
        token: Some(token.clone()),
        object: None,
        id: None,
        pin: None,
        shown: format!(
            "pkcs11:token={};slot-id={slot_id}?module-path={}",
            encode(token.as_bytes()),
            encode(module.as_os_str().as_encoded_bytes())
        ),
    };
    let session = ctx
        .open_ro_session(slot)
        .map_err(|e| p11(&uri, "opening a session", e))?;
    if let Some(pin) = pin_for(&uri, info.login_required())? {
        login(&uri, &session, &pin)?;
    }
    uri.pin = None;
    let objects = session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .map_err(|e| p11(&uri, "listing the keys", e))?;
    let mut out = Vec::new();
    for o in objects {
        let attrs = session
            .get_attributes(o, &[AttributeType::Label, AttributeType::Id])
            .map_err(|e| p11(&uri, "reading a key's label", e))?;
        let (mut label, mut id) = (Vec::new(), Vec::new());
        for a in attrs {
            match a {
                Attribute::Label(l) => label = l,
                Attribute::Id(i) => id = i,
                _ => {}
            }
        }
        let mut key_uri = format!(
            "pkcs11:token={};slot-id={slot_id}",
            encode(token.as_bytes())
        );
        if !id.is_empty() {
            key_uri.push_str(&format!(";id={}", encode_all(&id)));
        }
        if !label.is_empty() {
            key_uri.push_str(&format!(";object={}", encode(&label)));
        }
        key_uri.push_str(&format!(
            "?module-path={}",
            encode(module.as_os_str().as_encoded_bytes())
        ));
        out.push(KeyInfo {
            label: String::from_utf8_lossy(&label).into_owned(),
            id,
            uri: key_uri,
        });
    }
    Ok(out)
}

/// Percent-encodes what is not unreserved (RFC 3986) or `/`.
fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every byte percent-encoded (a key id is binary, as cosign writes it).
fn encode_all(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cosign_uris() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=my%20token;slot-id=7;id=%01%02;object=sig+key?module-path=/usr/lib/x.so&pin-value=12%334",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("my token"));
        assert_eq!(u.slot_id, Some(7));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(u.object.as_deref(), Some("sig key"));
        assert_eq!(u.module_path.as_deref(), Some(Path::new("/usr/lib/x.so")));
        assert_eq!(u.pin.as_deref().map(String::as_str), Some("1234"));
        // the PIN is never shown
        let shown = format!("{u} {u:?}");
        assert!(
            !shown.contains("12%334") && !shown.contains("1234"),
            "{shown}"
        );
        assert!(shown.contains("pin-value=***"), "{shown}");
    }

    #[test]
    fn refuses_what_cosign_refuses() {
        for (uri, why) in [
            ("pkcs11:object=k", "one of token and slot-id"),
            ("pkcs11:token=t", "one of object and id"),
            ("pkcs11:slot-id=x;object=k", "slot-id must be a number"),
            ("pkcs11:token=t;object=%zz", "bad percent escape"),
            ("file:token=t;object=k", "does not start with 'pkcs11:'"),
        ] {
            let e = Pkcs11Uri::parse(uri).unwrap_err().to_string();
            assert!(e.contains(why), "{uri}: {e}");
        }
    }

    #[test]
    fn the_module_must_be_an_absolute_existing_file() {
        let rel = Pkcs11Uri::parse("pkcs11:token=t;object=k?module-path=lib.so").unwrap();
        assert!(rel.module().unwrap_err().to_string().contains("absolute"));
        let gone =
            Pkcs11Uri::parse("pkcs11:token=t;object=k?module-path=/nonexistent/lib.so").unwrap();
        assert!(gone.module().unwrap_err().to_string().contains("not found"));
        let dir = Pkcs11Uri::parse("pkcs11:token=t;object=k?module-path=/").unwrap();
        assert!(
            dir.module()
                .unwrap_err()
                .to_string()
                .contains("regular file")
        );
    }

    #[test]
    fn ed25519_params_are_softhsm2s_name_or_the_oid() {
        // as pkcs11-tool prints SoftHSM2 2.6's EC:edwards25519 key
        assert_eq!(hex(ED25519_NAME_PARAMS), "130c656477617264733235353139");
        // DER of 1.3.101.112
        let oid = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");
        let mut der = vec![0x06, oid.as_bytes().len() as u8];
        der.extend_from_slice(oid.as_bytes());
        assert_eq!(der, ED25519_OID_PARAMS);
    }

    #[test]
    fn blanks_the_pin_wherever_it_is() {
        assert_eq!(
            blank_pin("pkcs11:token=t;object=k?pin-value=secret&module-path=/m"),
            "pkcs11:token=t;object=k?pin-value=***&module-path=/m"
        );
        assert_eq!(
            blank_pin("pkcs11:token=t;object=k?module-path=/m&pin-value=secret"),
            "pkcs11:token=t;object=k?module-path=/m&pin-value=***"
        );
    }
}
