// Package secret keeps credentials out of the configuration file and out of
// what the proxy shows and logs. It expands ${env:NAME} placeholders in a
// server's env, args, headers and URL from the environment, remembers the
// values it substituted in a Redactor that masks them (and their URL- and
// JSON-escaped forms) in any text, and offers heuristics for spotting
// secrets that were never placeholders: object keys that name a credential
// and values shaped like one.
//
// Errors name the field and the variable, never a value.
//
// Concurrency: functions here are pure; a Redactor is immutable once made
// and safe for concurrent use.
package secret
