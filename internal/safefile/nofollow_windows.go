package safefile

// Windows has no O_NOFOLLOW; callers that walk folders refuse links there.
const oNoFollow = 0
