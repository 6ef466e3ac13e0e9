/// `AUTOSPAWN_BOT_USER` (and `AUTOSPAWN_BOT_GROUP`): the user and group bots run as, so that a bot, which runs
/// strangers' words through third-party models, can read neither the service's files nor its memory.
package struct BotAccount: Sendable, Equatable {
    /// As configured: a name, or a number.
    package var user: String
    package var uid: UInt32
    package var gid: UInt32
    /// The user's home folder, the bots' `HOME`; nil for a number with no entry in the user database.
    package var home: String?

    package init(user: String, uid: UInt32, gid: UInt32, home: String?) {
        self.user = user
        self.uid = uid
        self.gid = gid
        self.home = home
    }
}

/// What start-up needs to know of this machine's users and of its own privileges. `Config.parse` asks, and stays
/// pure; `serve` answers from the system.
package struct SystemAccounts: Sendable {
    /// A user by name or number: its uid, primary group and home folder; nil when the machine has no such user.
    package var user: @Sendable (String) -> (uid: UInt32, gid: UInt32, home: String)?
    /// A group by name or number; nil when the machine has no such group.
    package var group: @Sendable (String) -> UInt32?
    /// This process's user.
    package var currentUID: UInt32
    /// Whether this process may change a child's user and group: root, or `CAP_SETUID` and `CAP_SETGID`.
    package var canSwitchUsers: Bool

    package init(
        user: @escaping @Sendable (String) -> (uid: UInt32, gid: UInt32, home: String)?,
        group: @escaping @Sendable (String) -> UInt32?,
        currentUID: UInt32,
        canSwitchUsers: Bool
    ) {
        self.user = user
        self.group = group
        self.currentUID = currentUID
        self.canSwitchUsers = canSwitchUsers
    }

    /// A machine whose only user is this unprivileged process's: the default of `Config.parse` (tests).
    package static let unprivileged = SystemAccounts(user: { _ in nil }, group: { _ in nil }, currentUID: 1000, canSwitchUsers: false)

    /// The account `AUTOSPAWN_BOT_USER`/`AUTOSPAWN_BOT_GROUP` name, checked; nil when neither is set.
    func botAccount(user: String?, group: String?) throws(ConfigError) -> BotAccount? {
        guard let user else {
            if group != nil { throw ConfigError("AUTOSPAWN_BOT_GROUP", "needs AUTOSPAWN_BOT_USER: the group goes with the user bots run as") }
            return nil
        }
        var account: BotAccount
        if let found = self.user(user) {
            account = BotAccount(user: user, uid: found.uid, gid: found.gid, home: found.home)
        } else if let uid = UInt32(user) {
            // A number with no entry (common in containers): its group is the same number unless one is named.
            account = BotAccount(user: user, uid: uid, gid: uid, home: nil)
        } else {
            throw ConfigError("AUTOSPAWN_BOT_USER", "there is no user '\(user)' on this machine")
        }
        if let group {
            guard let gid = self.group(group) ?? UInt32(group) else {
                throw ConfigError("AUTOSPAWN_BOT_GROUP", "there is no group '\(group)' on this machine")
            }
            account.gid = gid
        }
        guard account.uid != 0, account.gid != 0 else {
            throw ConfigError("AUTOSPAWN_BOT_USER", "'\(user)' is root: bots run strangers' words and must not run as root")
        }
        guard canSwitchUsers else {
            throw ConfigError(
                "AUTOSPAWN_BOT_USER",
                "starting bots as '\(user)' needs root or CAP_SETUID and CAP_SETGID, which this process (uid \(currentUID)) does not have"
            )
        }
        return account
    }
}
