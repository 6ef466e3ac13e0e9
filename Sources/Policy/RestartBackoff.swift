/// How long a room whose bot keeps failing waits before its next bot: `baseSeconds` after the first failure,
/// doubled at each further failure in a row, never more than `maxSeconds`. A bot that ran at least
/// `stableSeconds` before failing starts the count again: it was working.
package struct RestartBackoff: Sendable, Equatable {
    package var baseSeconds: Double
    package var maxSeconds: Double
    package var stableSeconds: Double

    package init(baseSeconds: Double = 2, maxSeconds: Double = 300, stableSeconds: Double = 60) {
        self.baseSeconds = baseSeconds
        self.maxSeconds = maxSeconds
        self.stableSeconds = stableSeconds
    }

    /// Failures in a row after a bot that failed having run `ranFor` seconds.
    package func failures(after previous: Int, ranFor: Double) -> Int {
        ranFor >= stableSeconds ? 1 : previous + 1
    }

    /// The wait before the next bot after `failures` failures in a row (0 for none).
    package func delay(failures: Int) -> Double {
        guard failures > 0 else { return 0 }
        var delay = baseSeconds
        for _ in 1..<failures where delay < maxSeconds { delay *= 2 }
        return min(delay, maxSeconds)
    }
}
