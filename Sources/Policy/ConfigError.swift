/// A setting that cannot be used; `description` is the one line printed before exiting with status 2.
package struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The environment variable at fault.
    package let variable: String
    /// What is wrong with it and what is accepted instead.
    package let problem: String

    package init(_ variable: String, _ problem: String) {
        self.variable = variable
        self.problem = problem
    }

    package var description: String { "\(variable): \(problem)" }
}
