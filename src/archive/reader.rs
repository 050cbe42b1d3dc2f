//! Reading archives (to come).
