//! Keys, byte-compatible with cosign: the encrypted private key envelope, public keys,
//! key references and passwords.
