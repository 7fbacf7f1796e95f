package guard

// ruleSpec is one injection phrasing, matched against normalised text
// (see normalize: lower case, no accents, words separated by one space,
// a space at each end). The pattern is wrapped in spaces when compiled,
// so it matches whole words. A rule's pattern only runs when one of its
// triggers occurs in the text, which keeps benign text cheap.
type ruleSpec struct {
	name     string
	lang     string
	weight   float64 // the rule's contribution to the score, 0–1
	triggers []string
	pattern  string
}

// Weights: strong (a phrasing with no common benign use) is enough to
// match on its own; weak (role-play openers, "no restrictions") only
// matches together with another signal.
const (
	strong = 0.85
	medium = 0.6
	weak   = 0.35
)

// English building blocks.
const (
	enVerb = `(?:ignore|ignoring|disregard|disregarding|forget|skip|bypass|override|overwrite|drop|discard|neglect|abandon|dismiss|erase|set aside|throw out|do not follow|don t follow|stop following|no longer follow|do not obey|don t obey)`
	enAll  = `(?:(?:all|any|every|each) (?:of )?)?`
	enDet  = `(?:(?:the|these|those|its|their|this|that|such) )?`
	enQual = `(?:previous|previously|prior|above|preceding|earlier|former|initial|original|foregoing|system|safety|hidden|programmed|pre ?set)`
	enNoun = `(?:instructions?|rules?|directives?|guidelines?|prompts?|commands?|directions?|constraints?|restrictions?|programming|guardrails?|context|polic(?:y|ies)|orders?|training|guidance|limitations?|filters?|safeguards?|system prompt|system message|text|conversation)`
	enWho  = `(?:you (?:were|have been|ve been|are) (?:told|given|instructed|programmed)|(?:i|we) (?:gave|told) you)`
)

// enReveal are the verbs of a request to disclose; enAdj the adjectives
// that may stand before what is to be disclosed; enSecretTarget what is
// secret even after a mere "the" (a bare "show the system message" is
// often about an operating system).
const (
	enReveal       = `(?:reveal|reveals|print|prints|repeat|repeats|show|shows|output|outputs|display|tell|give|write|dump|leak|leaks|share|recite|spell out|copy|paste|list|echo|provide|disclose|expose|return|read back|type out|send|translate|summarize|summarise|paraphrase|encode|rewrite|what (?:is|are|were|was))`
	enAdj          = `(?:full|entire|complete|exact|whole|original|initial|hidden|secret|first|real|underlying|confidential)`
	enSecretTarget = `(?:system prompt|sys prompt|pre ?prompt|meta ?prompt|hidden prompt|(?:initial|original|hidden|secret|confidential|underlying) (?:instructions|prompt|rules)|(?:instructions|prompt|rules|guidelines) (?:` + enWho + `|you follow|you operate under)|(?:instructions|prompt) above)`
)

var rulesEN = []ruleSpec{
	{"en.ignore_instructions", "en", strong,
		[]string{"ignor", "disregard", "forget", "skip", "bypass", "overr", "overw", "drop", "discard", "neglect", "abandon", "dismiss", "erase", "aside", "throw", "follow", "obey"},
		enVerb + ` ` + enAll + `(?:` + enDet + enQual + ` (?:(?:and|or) (?:` + enQual + `|following|subsequent) )?` + enNoun +
			`|your (?:` + enQual + ` )?` + enNoun + `|(?:all|any|every) (?:of )?(?:the |these |those )?` + enNoun +
			`|` + enDet + enNoun + ` (?:above|before this|so far|` + enWho + `))`},
	{"en.ignore_above", "en", strong,
		[]string{"ignor", "disregard", "forget", "overr"},
		enVerb + ` (?:all |everything |anything |the text |what (?:is|was|s) (?:written |said )?|that |the )?(?:above|before this|said before|(?:written|said) above|previously said|so far|until now|` + enWho + `)`},
	{"en.forget_everything", "en", strong,
		[]string{"forget", "ignor", "disregard"},
		`(?:forget|ignore|disregard) (?:about )?(?:everything|all|anything|what) (?:that )?(?:` + enWho + `|(?:you know|we discussed|we talked about) (?:before|so far)|before|above|up to now|prior)`},
	{"en.must_ignore", "en", medium,
		[]string{"ignor", "disregard", "forget"},
		`(?:you|u) (?:must|should|will|shall|need to|have to) (?:now )?(?:ignore|disregard|forget) (?:your|all|any|the (?:previous|prior|above|system|original))`},
	{"en.without_instructions", "en", medium,
		[]string{"without"},
		`without (?:any of )?your (?:` + enQual + ` )?` + enNoun},
	{"en.instructions_void", "en", medium,
		[]string{"test", "fake", "void", "cancel", "revoked", "overridden"},
		`(?:previous|prior|above|earlier|original|old|system) (?:instructions|rules|prompt|guidelines) (?:were|are|was|is) (?:just |only |all )?(?:a test|fake|void|cancelled|canceled|revoked|overridden)`},
	{"en.no_longer_rules", "en", medium,
		[]string{"longer", "anymore"},
		`you (?:no longer have|don t have|do not have) (?:any )?(?:rules|restrictions|limits|guidelines|filters|limitations)(?: anymore)?`},
	{"en.override_marker", "en", weak,
		[]string{"override", "update", "notice", "alert"},
		`(?:system|admin|security|developer|operator) (?:override|update|notice|alert)`},
	{"en.context_dump", "en", strong,
		[]string{"context", "prompt", "instruction", "conversation"},
		`(?:first|last) [0-9]+ (?:words|lines|tokens|characters|sentences) of (?:your|the) (?:context|context window|prompt|instructions|system prompt|conversation)`},
	{"en.new_instructions", "en", weak,
		[]string{"instruction", "task", "prompt", "rules"},
		`(?:new|updated|real|actual|true|secret|override|revised) (?:instructions|task|system prompt|rules|directive)`},
	{"en.reveal_prompt", "en", strong,
		[]string{"prompt", "instruction", "message", "above", "guideline", "rules", "configuration"},
		enReveal + ` (?:me |us )?(?:back )?(?:all |everything in |exactly |verbatim |word for word |the contents of |the content of |the text of |everything of )?(?:of )?` +
			`(?:(?:[a-z0-9]+ ){0,3}(?:your|thy) (?:` + enAdj + ` )*` +
			`(?:system prompt|system message|system instructions|sys prompt|pre ?prompt|meta ?prompt|developer (?:message|prompt|instructions)|hidden prompt|instructions|prompt|rules|guidelines|configuration|directives)` +
			`|the (?:` + enAdj + ` )*` + enSecretTarget + `)`},
	{"en.repeat_above", "en", strong,
		[]string{"above", "before", "beginning", "start"},
		`(?:repeat|print|output|copy|recite|echo|reproduce|return|write out) (?:back )?(?:everything|all|all the text|the text|the words|all the words|what is written|what was written|what you were told|the instructions|everything that came|the content) (?:above|before|prior|at the (?:beginning|start)|from the (?:beginning|start))`},
	{"en.what_instructions", "en", medium,
		[]string{"instruction", "prompt"},
		`(?:what|which) (?:are|were|is|was) (?:your|the) (?:exact |original |initial |hidden |secret )?(?:instructions|system prompt|initial prompt)`},
	{"en.dan", "en", 0.9,
		[]string{"dan ", "stan ", "dude", "anything now"},
		`(?:do anything now|(?:you are|you re|act as|as|become|pretend to be|roleplay as|role play as|play|respond as) (?:now )?(?:dan|stan|dude)(?: mode)?)`},
	{"en.unrestricted_ai", "en", 0.8,
		[]string{"unrestrict", "unfilter", "uncensor", "jailbr", "unlimited", "amoral", "unethical", "evil", "rogue", "unbound", "unchained", "lawless"},
		`(?:act|behave|respond|answer|reply|operate|function|be|you are|you re|become|pretend to be|as) (?:now )?(?:as )?(?:if you (?:were|are) )?(?:an? )?(?:completely |totally |fully )?` +
			`(?:(?:unrestricted|unfiltered|uncensored|jailbroken|unlimited|amoral|unethical|evil|rogue|unbound|unchained|lawless) (?:and )?){1,3}(?:ai|assistant|model|chatbot|version|bot|llm|entity|persona|character|mode|language model)`},
	{"en.no_longer_ai", "en", 0.75,
		[]string{"no longer", "free from", "free of"},
		`(?:you are|you re) (?:now )?(?:no longer (?:an? )?(?:ai|assistant|chatgpt|bound|restricted|limited|claude|llama|language model|chatbot)|free (?:from|of) (?:your|all|any|the))`},
	{"en.developer_mode", "en", 0.45,
		[]string{"mode "},
		`(?:enable|enabled|activate|activated|enter|entering|switch to|turn on|now in|unlock|unlocked|engage|with) (?:the )?(?:developer|dev|god|jailbreak|debug|admin|sudo|root|maintenance|unrestricted|dan) mode`},
	{"en.mode_enabled", "en", medium,
		[]string{"mode "},
		`(?:developer|dev|god|jailbreak|sudo|dan|unrestricted) mode (?:is )?(?:now )?(?:enabled|activated|engaged|unlocked)`},
	{"en.mode_name", "en", weak,
		[]string{"mode "},
		`(?:god|jailbreak|sudo|dan) mode`},
	{"en.roleplay_opener", "en", 0.3,
		[]string{"pretend", "act as", "roleplay", "role play", "imagine", "game", "character", "from now on", "you will now"},
		`(?:pretend (?:that )?(?:you are|you re|to be|you have|you can)|roleplay as|role play as|imagine you are|let s play a game|stay in character|from now on you|from now on your|you will now (?:act|respond|answer|behave))`},
	{"en.no_restrictions", "en", 0.4,
		[]string{"restriction", "filter", "limit", "guideline", "rules", "censor", "ethic", "moral", "polic", "safety"},
		`(?:no|without|free of|free from|zero|bypass|bypassing|ignore|ignoring|beyond|not bound by) (?:any )?(?:restrictions|filters|filtering|limitations|limits|guidelines|rules|censorship|ethics|ethical (?:guidelines|constraints|restrictions)|morals|moral (?:constraints|restrictions)|content polic(?:y|ies)|safety (?:guidelines|filters|measures|rules)|openai polic(?:y|ies))`},
}
