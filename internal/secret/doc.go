// Package secret keeps credentials out of the configuration file and out of
// what the proxy shows and logs. It expands ${env:NAME} placeholders in a
// server's env, args, headers and URL from the environment, remembers the
// values it substituted in a Redactor that masks them (and their URL- and
// JSON-escaped forms) in any text, and is the proxy's one detector of
// secrets that were never placeholders: Find names the kind and place of
// each credential, key, card number or secret-looking assignment in a text
// (used by the activity log's redaction and by the sensitive_data setting
// on tool calls), and LooksSecretKey tells object keys that name a
// credential.
//
// Errors name the field and the variable, never a value.
//
// Concurrency: functions here are pure; a Redactor is immutable once made
// and safe for concurrent use.
package secret
