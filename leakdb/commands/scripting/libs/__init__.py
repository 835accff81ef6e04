"""The C libraries Redis loads into its Lua, written in Python: cjson, cmsgpack, bit and struct.

Each keeps its C original's behaviour and error messages; the sandbox (``sandbox.lua``) wraps every
function so that scripts see plain Lua functions.
"""
