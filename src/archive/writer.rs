//! Writing archives (to come).
