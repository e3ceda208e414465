// Package clock abstracts time so that logic can be tested without sleeping:
// the agent takes a Clock, production passes Real, tests pass a Fake and
// advance it.
package clock
