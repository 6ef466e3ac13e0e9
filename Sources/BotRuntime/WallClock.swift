import Foundation

/// The time in Unix seconds, injected so that timing rules (start timeout, maximum length, retention) are
/// tested at any instant without sleeping.
package protocol WallClock: Sendable {
    func now() -> Double
}

/// The system's clock.
package struct SystemClock: WallClock {
    package init() {}
    package func now() -> Double { Date().timeIntervalSince1970 }
}
