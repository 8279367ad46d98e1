//! Extended sequence numbers: 16- or 32-bit wire counters widened to 64 bits without ambiguity.

/// A sequence number extended to 64 bits: never wraps in practice (2^64 packets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeqNo(pub u64);

impl SeqNo {
    /// The low 16 bits, as carried in the RTP `seq` field.
    pub fn low16(self) -> u16 {
        self.0 as u16
    }

    /// The low 32 bits, as carried in OSTP's `seq_ext:seq`.
    pub fn low32(self) -> u32 {
        self.0 as u32
    }
}

/// Widens wire counters of `BITS` bits (16 or 32) to [`SeqNo`], tracking rollover.
///
/// Each value is placed in the 2^BITS window centred on the highest sequence seen so far, so a
/// reordered or duplicated packet maps to its true position and a forward jump of less than half
/// the window is a jump, not a wrap backwards.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extender<const BITS: u32> {
    highest: Option<u64>,
}

impl<const BITS: u32> Extender<BITS> {
    const MODULUS: u64 = 1 << BITS;

    /// A fresh extender: the first value seen is taken as is (no negative sequence numbers).
    pub fn new() -> Self {
        Self { highest: None }
    }

    /// Extends `wire` (only its low `BITS` bits are used) and updates the highest seen.
    pub fn extend(&mut self, wire: u64) -> SeqNo {
        let wire = wire & (Self::MODULUS - 1);
        let Some(highest) = self.highest else {
            self.highest = Some(wire);
            return SeqNo(wire);
        };
        let base = highest & !(Self::MODULUS - 1);
        let candidates = [
            base.checked_sub(Self::MODULUS),
            Some(base),
            base.checked_add(Self::MODULUS),
        ];
        let extended = candidates
            .into_iter()
            .flatten()
            .map(|b| b | wire)
            .min_by_key(|c| c.abs_diff(highest))
            .unwrap_or(wire);
        self.highest = Some(highest.max(extended));
        SeqNo(extended)
    }

    /// The highest sequence number seen, if any.
    pub fn highest(&self) -> Option<SeqNo> {
        self.highest.map(SeqNo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_counters_roll_over_forwards_and_reorder_backwards() {
        let mut ext = Extender::<16>::new();
        assert_eq!(ext.extend(0xFFFE), SeqNo(0xFFFE));
        assert_eq!(ext.extend(0xFFFF), SeqNo(0xFFFF));
        assert_eq!(ext.extend(0x0000), SeqNo(0x1_0000));
        assert_eq!(ext.extend(0x0002), SeqNo(0x1_0002));
        // A late packet from before the wrap lands before it, not 2^16 ahead.
        assert_eq!(ext.extend(0xFFFD), SeqNo(0xFFFD));
        assert_eq!(ext.highest(), Some(SeqNo(0x1_0002)));
        // A duplicate maps to the same number.
        assert_eq!(ext.extend(0x0002), SeqNo(0x1_0002));
    }

    #[test]
    fn thirty_two_bit_counters_roll_over() {
        let mut ext = Extender::<32>::new();
        assert_eq!(ext.extend(0xFFFF_FFFF), SeqNo(0xFFFF_FFFF));
        assert_eq!(ext.extend(3), SeqNo(0x1_0000_0003));
        assert_eq!(SeqNo(0x1_0000_0003).low32(), 3);
        assert_eq!(SeqNo(0x1_0001_0003).low16(), 3);
    }

    #[test]
    fn the_first_value_near_zero_never_goes_negative() {
        let mut ext = Extender::<16>::new();
        assert_eq!(ext.extend(1), SeqNo(1));
        assert_eq!(
            ext.extend(0xFFFF),
            SeqNo(0xFFFF),
            "no window below zero: forward jump"
        );
    }
}
