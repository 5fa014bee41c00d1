-- The sandbox every script and function runs in, built once per Lua state (chunk name
-- "=ferrokv"; frames of this chunk are skipped when an error is located).
--
-- Redis patches its Lua to make tables read-only; stock Lua 5.1 cannot, so the
-- globals scripts see are an empty proxy (`env`) whose lookups go to a private table
-- (`current`), and every library table is such a proxy too. Writes to a proxy raise
-- Redis' "Attempt to modify a readonly table"; reading a missing global raises
-- "Script attempted to access nonexistent global variable". `rawset` refuses proxies,
-- so nothing a script does outlives it.
--
-- Arguments: hooks (Rust functions: call, sha1hex, log, setresp, error_table), mode ("eval" or "function"),
-- version string, version number. Returns the control table Rust keeps (`ctl`).

local hooks, mode, version, version_num = ...

local getinfo = debug.getinfo
local error, type, tostring, tonumber, select, unpack = error, type, tostring, tonumber, select, unpack
local raw_pcall, raw_xpcall, raw_rawset, raw_setfenv = pcall, xpcall, rawset, setfenv
local raw_loadstring, raw_load, setmetatable = loadstring, load, setmetatable
local sub, find, gsub = string.sub, string.find, string.gsub

-- Per-run state, set by Rust: `call` (the command bridge, only during a run),
-- `resp` (2 or 3), `registering` (the functions of a FUNCTION LOAD in progress).
local ctl = { resp = 2 }

local protected = setmetatable({}, { __mode = "k" })

local function readonly()
    error("Attempt to modify a readonly table", 2)
end

-- A table scripts cannot change: reads go through `index` (a table or a function),
-- writes raise Redis' read-only error, and `rawset` refuses it.
local function protect(index)
    local p = {}
    protected[p] = true
    setmetatable(p, { __index = index, __newindex = readonly, __metatable = false })
    return p
end

local proxy = protect

-- A proxy whose missing fields are an error, as Redis' error metatable. `source()`
-- gives the table read (the globals' table changes between runs and loads).
local function strict_proxy(source)
    return protect(function(_, k)
        local v = source()[k]
        if v == nil then
            error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
        end
        return v
    end)
end

local current -- the table global lookups read: the run globals, or the load globals

local env = strict_proxy(function()
    return current
end)

-- Locates an error in the user's code (as Redis' __redis__err__handler): the frame
-- that raised it, or its caller when that is a C function; frames of this chunk are
-- the implementation of the redis.* API and are skipped.
local function handler(err)
    local level = 2
    local i = getinfo(level, "nSl")
    if i and i.what == "C" then
        level = level + 1
        i = getinfo(level, "nSl")
    end
    while i and (i.source == "=ferrokv" or i.what == "tail") do
        level = level + 1
        i = getinfo(level, "nSl")
        if i and i.what == "C" then
            level = level + 1
            i = getinfo(level, "nSl")
        end
    end
    if type(err) == "userdata" then
        -- Raised from Rust (redis.call, the kill hook): its error table.
        err = hooks.error_table(err)
    end
    if type(err) ~= "table" then
        err = { err = "ERR " .. tostring(err) }
    end
    if i then
        err["source"] = i.source
        err["line"] = i.currentline
    end
    return err
end

local function lua_error(text)
    error({ err = text })
end

-- Redis' luaPushErrorBuff: "-CODE msg" keeps its code, anything else gets ERR.
local function error_table(text)
    local code, msg
    if sub(text, 1, 1) == "-" then
        local sp = find(text, " ", 1, true)
        if sp then
            code, msg = sub(text, 2, sp - 1), sub(text, sp + 1)
        else
            code, msg = "ERR", sub(text, 2)
        end
    else
        code, msg = "ERR", text
    end
    msg = gsub(gsub(msg, "^[\r\n]+", ""), "[\r\n]+$", "")
    return { err = code .. " " .. msg }
end

local function command(...)
    local bridge = ctl.call
    if not bridge then
        return false, { err = "ERR redis.call/pcall can only be called inside a script invocation" }
    end
    return bridge(...)
end
ctl.command = command

local redis = {}
-- redis.call, sha1hex, log and setresp are Rust functions: a C function keeps its
-- caller's frame even when called as `return redis.call(...)`, so errors are located
-- in the user's code as Redis locates them.
redis.call = hooks.call
redis.pcall = function(...)
    local ok, reply = command(...)
    return reply
end


redis.error_reply = function(...)
    local e = ...
    if select("#", ...) ~= 1 or type(e) ~= "string" then
        return error_table("wrong number or type of arguments")
    end
    if sub(e, 1, 1) ~= "-" then
        e = "-" .. e
    end
    return error_table(e)
end

redis.status_reply = function(...)
    local s = ...
    if select("#", ...) ~= 1 or type(s) ~= "string" then
        return error_table("wrong number or type of arguments")
    end
    return { ok = s }
end

local log = hooks.log

redis.log = log
redis.sha1hex = hooks.sha1hex
redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3
redis.REDIS_VERSION = version
redis.REDIS_VERSION_NUM = version_num

redis.setresp = hooks.setresp

-- Scripts replicate as their effects here, always: set_repl only checks its flags.
redis.REPL_NONE = 0
redis.REPL_AOF = 1
redis.REPL_SLAVE = 2
redis.REPL_REPLICA = 2
redis.REPL_ALL = 3
redis.set_repl = function(...)
    if not ctl.running then
        lua_error("ERR redis.set_repl can only be called inside a script invocation")
    end
    if select("#", ...) ~= 1 then
        lua_error("ERR redis.set_repl() requires two arguments.")
    end
    local flags = tonumber((...)) or 0
    if flags ~= 0 and flags ~= 1 and flags ~= 2 and flags ~= 3 then
        lua_error("ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
    end
end
if mode == "eval" then
    redis.replicate_commands = function() return true end
    redis.breakpoint = function() return false end
    redis.debug = function() end
end

-- Redis' pcall: an error table from redis.call is caught as its message.
local function pack(...)
    return { n = select("#", ...), ... }
end
local function script_pcall(...)
    local r = pack(raw_pcall(...))
    if not r[1] and type(r[2]) == "userdata" then
        r[2] = hooks.error_table(r[2])
    end
    if not r[1] and type(r[2]) == "table" then
        local e = r[2].err
        if type(e) == "string" or type(e) == "number" then
            return false, e
        end
    end
    return unpack(r, 1, r.n)
end

local function script_rawset(t, k, v)
    if protected[t] then
        error("Attempt to modify a readonly table", 0)
    end
    return raw_rawset(t, k, v)
end

-- Chunks a script compiles run in the sandbox too.
local function script_loadstring(s, name)
    local f, e = raw_loadstring(s, name)
    if f then
        raw_setfenv(f, env)
    end
    return f, e
end
local function script_load(f, name)
    local c, e = raw_load(f, name)
    if c then
        raw_setfenv(c, env)
    end
    return c, e
end

local function copy(t)
    local c = {}
    for k, v in pairs(t) do
        c[k] = v
    end
    return c
end

-- The string library is also every string's metatable index: that path must not
-- reach the real table either.
local string_proxy = proxy(copy(string))
local string_meta = getmetatable("")
string_meta.__index = string_proxy
string_meta.__metatable = false

local run_globals = {
    assert = assert,
    error = error,
    ipairs = ipairs,
    next = next,
    pairs = pairs,
    pcall = script_pcall,
    rawequal = rawequal,
    rawget = rawget,
    rawset = script_rawset,
    select = select,
    setmetatable = setmetatable,
    getmetatable = getmetatable,
    tonumber = tonumber,
    tostring = tostring,
    type = type,
    unpack = unpack,
    xpcall = xpcall,
    loadstring = script_loadstring,
    load = script_load,
    gcinfo = gcinfo,
    collectgarbage = collectgarbage,
    _VERSION = _VERSION,
    coroutine = proxy(copy(coroutine)),
    string = string_proxy,
    table = proxy(copy(table)),
    math = proxy(copy(math)),
    redis = proxy(redis),
    cjson = proxy(hooks.cjson),
    _G = env,
}

local load_globals
if mode == "function" then
    local lib_redis = {
        log = log,
        LOG_DEBUG = 0,
        LOG_VERBOSE = 1,
        LOG_NOTICE = 2,
        LOG_WARNING = 3,
        REDIS_VERSION = version,
        REDIS_VERSION_NUM = version_num,
    }
    local FLAGS = {
        ["no-writes"] = true,
        ["allow-oom"] = true,
        ["allow-stale"] = true,
        ["no-cluster"] = true,
        ["allow-cross-slot-keys"] = true,
    }
    local function read_flags(t)
        local out = {}
        local j = 1
        while true do
            local f = t[j]
            if f == nil then
                break
            end
            if type(f) ~= "string" and type(f) ~= "number" then
                return nil
            end
            f = string.lower(tostring(f))
            if not FLAGS[f] then
                return nil
            end
            out[#out + 1] = f
            j = j + 1
        end
        return out
    end
    local function register(...)
        local reg = ctl.registering
        if not reg then
            lua_error("ERR redis.register_function can only be called on FUNCTION LOAD command")
        end
        local argc = select("#", ...)
        local name, callback, desc, flags
        if argc < 1 or argc > 2 then
            lua_error("ERR wrong number of arguments to redis.register_function")
        end
        if argc == 1 then
            local t = ...
            if type(t) ~= "table" then
                lua_error("ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
            end
            for k, v in pairs(t) do
                if type(k) ~= "string" and type(k) ~= "number" then
                    lua_error("ERR named argument key given to redis.register_function is not a string")
                end
                local key = string.lower(tostring(k))
                if key == "function_name" then
                    if type(v) ~= "string" and type(v) ~= "number" then
                        lua_error("ERR function_name argument given to redis.register_function must be a string")
                    end
                    name = tostring(v)
                elseif key == "description" then
                    if type(v) ~= "string" and type(v) ~= "number" then
                        lua_error("ERR description argument given to redis.register_function must be a string")
                    end
                    desc = tostring(v)
                elseif key == "callback" then
                    if type(v) ~= "function" then
                        lua_error("ERR callback argument given to redis.register_function must be a function")
                    end
                    callback = v
                elseif key == "flags" then
                    if type(v) ~= "table" then
                        lua_error("ERR flags argument to redis.register_function must be a table representing function flags")
                    end
                    flags = read_flags(v)
                    if not flags then
                        lua_error("ERR unknown flag given")
                    end
                else
                    lua_error("ERR unknown argument given to redis.register_function")
                end
            end
            if not name then
                lua_error("ERR redis.register_function must get a function name argument")
            end
            if not callback then
                lua_error("ERR redis.register_function must get a callback argument")
            end
        else
            local n, f = ...
            if type(n) ~= "string" and type(n) ~= "number" then
                lua_error("ERR first argument to redis.register_function must be a string")
            end
            if type(f) ~= "function" then
                lua_error("ERR second argument to redis.register_function must be a function")
            end
            name, callback = tostring(n), f
        end
        if not find(name, "^[%w_]+$") then
            lua_error("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
        end
        if reg.by_name[name] then
            lua_error("ERR Function already exists in the library")
        end
        local entry = { name = name, callback = callback, description = desc, flags = flags or {} }
        reg.by_name[name] = entry
        reg.list[#reg.list + 1] = entry
    end
    lib_redis.register_function = register
    load_globals = { redis = strict_proxy(function()
        return lib_redis
    end) }
end

current = run_globals

-- Runs `f` (an EVAL body, or a function with its keys and args) in protected mode:
-- returns true and its first result, or false and the located error.
ctl.run = function(f, keys, args)
    ctl.running = true
    local r
    if mode == "eval" then
        raw_rawset(run_globals, "KEYS", keys)
        raw_rawset(run_globals, "ARGV", args)
        r = pack(raw_xpcall(f, handler))
    else
        r = pack(raw_xpcall(function() return f(keys, args) end, handler))
    end
    ctl.running = false
    ctl.call = nil
    return r[1], r[2]
end

-- Runs a library body with the load globals, collecting what it registers.
ctl.load_library = function(f)
    local reg = { by_name = {}, list = {} }
    ctl.registering = reg
    current = load_globals
    local ok, err = raw_xpcall(f, handler)
    current = run_globals
    ctl.registering = nil
    if not ok then
        return false, err
    end
    return true, reg.list
end

ctl.env = env
ctl.setfenv = raw_setfenv
return ctl
