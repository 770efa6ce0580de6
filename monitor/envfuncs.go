package monitor

import (
	"errors"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
)

// Env's methods are what expressions call most (Modified, RoleChanged, …)
// and expr calls a method through reflection: it looks the method up by
// name and calls it with reflect on every record. Expressions are patched
// instead to call each as a function with the environment first —
// Modified("x") compiles as Modified·env($env, "x") — which expr calls
// directly. The methods stay Env's API; these only route to them.

// envFuncSuffix marks the function standing for an Env method.
const envFuncSuffix = "·env"

var errNoEnv = errors.New("monitor: expression called without its environment")

// envFunc declares method name as a function of the environment and args,
// and routes calls of the method to it.
func envFunc(name string, call func(e *Env, args []any) any, types ...any) expr.Option {
	envMethods[name] = true
	return expr.Function(name+envFuncSuffix, func(p ...any) (any, error) {
		e, _ := p[0].(*Env)
		if e == nil {
			return nil, errNoEnv
		}
		return call(e, p[1:]), nil
	}, types...)
}

func str(args []any, i int) string {
	s, _ := args[i].(string)
	return s
}

var envFunctions = []expr.Option{
	envFunc("UnapprovedControls", func(e *Env, _ []any) any { return e.UnapprovedControls() }, new(func(*Env) string)),
	envFunc("Modified", func(e *Env, a []any) any { return e.Modified(str(a, 0)) }, new(func(*Env, string) string)),
	envFunc("ModifiedOld", func(e *Env, a []any) any { return e.ModifiedOld(str(a, 0)) }, new(func(*Env, string) string)),
	envFunc("AnyModified", func(e *Env, a []any) any { return e.AnyModified(str(a, 0)) }, new(func(*Env, string) bool)),
	envFunc("PrivilegedRole", func(e *Env, a []any) any { return e.PrivilegedRole(str(a, 0)) }, new(func(*Env, string) bool)),
	envFunc("RoleChanged", func(e *Env, _ []any) any { return e.RoleChanged() }, new(func(*Env) string)),
	envFunc("PrivilegedRoleChanged", func(e *Env, _ []any) any { return e.PrivilegedRoleChanged() }, new(func(*Env) bool)),
	envFunc("TargetUPNs", func(e *Env, _ []any) any { return e.TargetUPNs() }, new(func(*Env) string)),
	envFunc("TargetUser", func(e *Env, _ []any) any { return e.TargetUser() }, new(func(*Env) string)),
	envFunc("TargetNames", func(e *Env, _ []any) any { return e.TargetNames() }, new(func(*Env) string)),
	envFunc("PolicyLoosened", func(e *Env, _ []any) any { return e.PolicyLoosened() }, new(func(*Env) string)),
	envFunc("SigmaField", func(e *Env, a []any) any { return e.SigmaField(str(a, 0), str(a, 1)) }, new(func(*Env, string, string) any)),
	envFunc("SigmaKey", func(e *Env, a []any) any { return e.SigmaKey(str(a, 0), str(a, 1)) }, new(func(*Env, string, string) string)),
}

// envMethods are the names envFunctions stand for (envFunc fills it).
var envMethods = map[string]bool{}

// envCalls patches a call of an Env method into its function.
type envCalls struct{}

func (envCalls) Visit(node *ast.Node) {
	c, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok || !envMethods[id.Value] {
		return
	}
	c.Callee = &ast.IdentifierNode{Value: id.Value + envFuncSuffix}
	c.Arguments = append([]ast.Node{&ast.IdentifierNode{Value: "$env"}}, c.Arguments...)
}
