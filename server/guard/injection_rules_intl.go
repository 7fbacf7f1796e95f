package guard

// French, German and Spanish phrasings. Accents are already gone
// (normalize), so "précédentes" is written "precedentes" and "vergiß"
// "vergiss"; German umlauts fold to the bare vowel, and the "ue" spelling
// is listed where people type it.

const (
	frVerb = `(?:ignore|ignorez|ignorer|ignores|oublie|oubliez|oublier|oublies|neglige|negligez|ne tiens pas compte|ne tenez pas compte|ne tiens plus compte|ne tenez plus compte|fais abstraction|faites abstraction|ecarte|ecartez|laisse tomber|laissez tomber|passe outre|passez outre|contourne|contournez|ne suis plus|ne suivez plus|n obeis plus|n obeissez plus|annule|annulez)`
	frNoun = `(?:consignes?|instructions?|regles?|directives?|indications?|ordres?|commandes?|restrictions?|limites?|contraintes?|prompt|programmation|garde fous?)`
	frQual = `(?:precedentes?|precedents?|anterieures?|anterieurs?|ci dessus|d avant|initiales?|initiaux|d origine|originales?|du systeme|systeme|de base|par defaut|que tu as recues?|qu on t a donnees?|de securite)`
)

var rulesFR = []ruleSpec{
	{"fr.new_instructions", "fr", weak,
		[]string{"consigne", "instruction", "regle", "directive"},
		`(?:nouvelles?|vraies?|veritables?|nouveaux) (?:consignes|instructions|regles|directives)`},
	{"fr.instructions_void", "fr", medium,
		[]string{"test", "annule", "fausse", "caduque"},
		`` + frNoun + ` (?:precedentes?|anterieures?|initiales?|d origine|du systeme) (?:etaient|sont|etait|est) (?:juste |seulement )?(?:un test|fausses?|annulee?s?|caduques?|nulles?)`},
	{"fr.without_instructions", "fr", medium,
		[]string{"sans"},
		`sans (?:tes|vos) ` + frNoun},
	{"fr.no_longer_rules", "fr", medium,
		[]string{"plus de", "plus aucune", "plus aucun"},
		`(?:tu n as|vous n avez) plus (?:de|aucune|aucun) (?:regles?|restrictions?|limites?|filtres?|consignes?|contraintes?)`},
	{"fr.mode_enabled", "fr", medium,
		[]string{"mode "},
		`mode (?:developpeur|dev|dieu|sans restriction|sans filtre|dan|jailbreak) (?:est )?(?:maintenant )?(?:active|actif|enclenche|deverrouille)`},
	{"fr.ignore_instructions", "fr", strong,
		[]string{"ignor", "oubli", "neglig", "compte", "abstraction", "ecart", "tomber", "outre", "contourn", "suis", "suivez", "obei", "annul"},
		frVerb + ` (?:de |d )?(?:(?:toutes|tous|toute) )?(?:(?:les|tes|vos|ces|des|leurs|l|la|le) )?` +
			`(?:` + frNoun + ` (?:(?:qui|que) (?:precedent|t ont ete|vous ont ete|on t a|tu as)|` + frQual + `)|(?:` + frQual + ` )` + frNoun + `)`},
	{"fr.ignore_possessive", "fr", strong,
		[]string{"ignor", "oubli", "neglig", "compte", "abstraction", "ecart", "tomber", "outre", "contourn", "suis", "suivez", "obei", "annul"},
		frVerb + ` (?:de |d )?(?:(?:toutes|tous) )?(?:tes|vos|toutes les) ` + frNoun},
	{"fr.forget_everything", "fr", strong,
		[]string{"oubli", "ignor"},
		`(?:oublie|oubliez|ignore|ignorez) (?:tout|tout ce qui|tout ce que|tout ce qu|ce qui|ce que|ce qu) (?:precede|a ete dit|on t a dit|tu sais|vous savez|est au dessus|est ecrit au dessus|ci dessus|avant|qui precede|t a ete dit|vous a ete dit|jusqu ici|que je t ai dit)`},
	{"fr.reveal_prompt", "fr", strong,
		[]string{"prompt", "instruction", "consigne", "invite", "message", "dessus"},
		`(?:traduis|traduisez|resume|resumez|revele|revelez|reveler|affiche|affichez|afficher|montre|montrez|montrer|repete|repetez|repeter|donne|donnez|donner|ecris|ecrivez|ecrire|imprime|imprimez|dis|dites|divulgue|divulguez|recopie|recopiez|copie|copiez|partage|partagez|cite|citez|quel est|quelles sont|quels sont|communique|communiquez|livre|livrez) ` +
			`(?:moi |nous )?(?:tout |mot pour mot |exactement |integralement )?(?:de |d )?(?:[a-z0-9]+ ){0,3}(?:(?:ton|ta|tes|votre|vos|son|sa|ses) ` +
			`(?:(?:prompt|invite|message|instructions?|consignes?|texte|directives?) (?:systeme|system|du systeme|initiale?s?|initiaux|d origine|originale?s?|originaux|cachee?s?|secrete?s?|ci dessus|precedente?s?|de depart|de base|confidentielle?s?)|` +
			`(?:prompt|instructions?|consignes?) (?:(?:que tu as|qu on t a|qui t ont ete) )|system prompt)` +
			`|(?:le|la|les|l) (?:(?:prompt|invite|message) (?:systeme|system|du systeme|initial|d origine|original|cache|secret)|(?:instructions|consignes) (?:cachees|secretes|du systeme|qu on t a donnees)|system prompt))`},
	{"fr.repeat_above", "fr", strong,
		[]string{"dessus", "precede", "debut"},
		`(?:repete|repetez|recopie|recopiez|affiche|affichez|ecris|ecrivez|imprime|imprimez|cite|citez) (?:tout |le texte |les mots |tout le texte |ce qui est ecrit |ce qui |est ecrit )*(?:ci dessus|au dessus|qui precede|precede|depuis le debut|au debut)`},
	{"fr.unrestricted_ai", "fr", 0.8,
		[]string{"contrainte", "restriction", "limite", "filtre", "censur", "bride", "debride", "dan ", "regle"},
		`(?:tu es|vous etes|tu seras|vous serez|deviens|devenez|agis comme|agissez comme|comporte toi comme|joue le role d|joues le role d|jouez le role d) (?:desormais |maintenant |a present |dorenavant )?(?:dan|une? (?:ia|intelligence artificielle|assistant|assistante|modele|chatbot|version) (?:sans (?:aucune )?(?:restrictions?|limites?|filtres?|censure|regles?|contraintes?)|non (?:censuree?|filtree?|bridee?|restreinte?)|debridee?|libre|malveillante?))`},
	{"fr.developer_mode", "fr", 0.45,
		[]string{"mode "},
		`(?:active|activez|activer|passe en|passez en|entre en|entrez en|bascule en|basculez en) (?:le )?(?:mode )?(?:developpeur|dev|debogage|admin|administrateur|dieu|sans restriction|sans filtre|dan|jailbreak)(?: active| est active| mode)?`},
	{"fr.roleplay_opener", "fr", 0.3,
		[]string{"semblant", "imagine", "joue", "partir de maintenant", "desormais", "dorenavant"},
		`(?:fais semblant d etre|faites semblant d etre|fais comme si|faites comme si|imagine que tu es|imaginez que vous etes|joue le role|jouez le role|a partir de maintenant tu|a partir de maintenant vous|desormais tu|desormais vous|dorenavant tu)`},
	{"fr.no_restrictions", "fr", 0.4,
		[]string{"restriction", "limite", "filtre", "censur", "regle", "ethique", "morale"},
		`(?:sans|aucune|aucun|ignore|ignorez|libere de|libre de|hors de) (?:aucune |aucun |toute |tes |vos |les )?(?:restrictions?|limites?|filtres?|censure|regles?|contraintes? (?:ethiques|morales)|ethique|morale|limitations?)`},
}

const (
	deVerb = `(?:ignoriere|ignorier|ignorieren sie|ignoriert|vergiss|vergesst|vergessen sie|missachte|missachten sie|missachtet|uberspringe|ueberspringe|verwirf|verwerfen sie|setze|setzen sie|hebe|heben sie|umgehe|umgehen sie|befolge nicht|befolgen sie nicht|nicht mehr befolgen|beachte nicht|beachten sie nicht|lass|lasse|lassen sie)`
	deDet  = `(?:(?:alle|all|jegliche|samtliche|saemtliche|die|deine|ihre|eure|diese|den|dem|der|bisherige|bisherigen|vorherige|vorherigen) )*`
	deQual = `(?:vorherigen|vorigen|bisherigen|obigen|vorangegangenen|vorhergehenden|fruheren|frueheren|ursprunglichen|urspruenglichen|anfanglichen|anfaenglichen|ersten|alten|vorgegebenen|gegebenen|oben genannten|system|systemseitigen)`
	deNoun = `(?:anweisungen|anweisung|instruktionen|regeln|vorgaben|befehle|richtlinien|anordnungen|einschrankungen|einschraenkungen|beschrankungen|vorschriften|prompts?|systemanweisungen|systemprompt|system prompt|programmierung|sicherheitsregeln|filter)`
)

var rulesDE = []ruleSpec{
	{"de.ignore_final", "de", strong,
		[]string{"ignorieren", "vergessen", "missachten", "ubergehen", "uebergehen"},
		`(?:deine|ihre|eure|alle|samtliche|saemtliche|jegliche|die|diese) (?:` + deQual + ` )?` + deNoun + ` (?:(?:jetzt|bitte|nun|einfach|sofort|ab sofort) )*(?:ignorieren|vergessen|missachten|ubergehen|uebergehen)`},
	{"de.reveal_final", "de", strong,
		[]string{"prompt", "systemprompt", "anweisung", "systemanweisung", "instruktion", "systemnachricht"},
		`(?:deinen|deine|ihren|ihre|seinen|seine) (?:(?:genauen|kompletten|vollstandigen|ganzen|geheimen|versteckten|internen|ursprunglichen|urspruenglichen|anfanglichen|ersten|initialen) )*(?:system ?prompt|systemprompt|systemnachricht|systemanweisungen|geheimen anweisungen|versteckten anweisungen) (?:[a-z0-9]+ ){0,2}(?:verrat|verraten|zeigt|zeigen|ausgibt|ausgeben|preisgibt|preisgeben|wiederholt|wiederholen|offenbart|offenbaren)`},
	{"de.new_instructions", "de", weak,
		[]string{"anweisung", "regeln", "vorgaben"},
		`(?:neue|neuen|wahren|echten|eigentlichen) (?:anweisungen|regeln|vorgaben|instruktionen)`},
	{"de.instructions_void", "de", medium,
		[]string{"test", "ungultig", "ungueltig", "aufgehoben"},
		`(?:vorherigen|bisherigen|obigen|ursprunglichen|urspruenglichen|alten) (?:anweisungen|regeln|vorgaben) (?:waren|sind|war|ist) (?:nur |bloss )?(?:ein test|falsch|ungultig|ungueltig|aufgehoben)`},
	{"de.without_instructions", "de", medium,
		[]string{"ohne"},
		`ohne (?:deine|ihre|eure) ` + deNoun},
	{"de.no_longer_rules", "de", medium,
		[]string{"mehr"},
		`(?:du hast|hast du|sie haben|haben sie) (?:jetzt |nun |ab sofort )?keine (?:regeln|einschrankungen|einschraenkungen|grenzen|filter|vorgaben|beschrankungen) mehr`},
	{"de.mode_enabled", "de", medium,
		[]string{"modus ", "entwicklermodus", "gottmodus"},
		`(?:entwicklermodus|entwickler modus|gottmodus|jailbreak modus|dan modus) (?:ist )?(?:jetzt )?(?:aktiviert|aktiv|eingeschaltet|freigeschaltet)`},
	{"de.ignore_instructions", "de", strong,
		[]string{"ignor", "vergiss", "vergesst", "vergessen", "missacht", "uberspring", "ueberspring", "verwirf", "verwerfen", "setze", "hebe", "umgeh", "befolg", "beacht", "lass"},
		deVerb + ` (?:bitte |einfach |jetzt |nun |sofort )*` + deDet + `(?:` + deQual + ` ` + deNoun + `|(?:deine|ihre|eure|alle|samtliche|jegliche) ` + deNoun + `)(?: (?:ausser kraft|beiseite|hinter dir|weg|au(?:ss|ß)er acht))?`},
	{"de.forget_everything", "de", strong,
		[]string{"vergiss", "vergesst", "vergessen", "ignor"},
		`(?:vergiss|vergesst|vergessen sie|ignoriere|ignorieren sie) (?:bitte )?(?:einfach )?(?:alles|alle) (?:was|bisher|vorher|davor|oben|obige|vorherige|zuvor|bisherige|bis hierhin|was (?:dir|ihnen) (?:gesagt|befohlen|aufgetragen))`},
	{"de.reveal_prompt", "de", strong,
		[]string{"prompt", "systemprompt", "anweisung", "systemanweisung", "instruktion", "systemnachricht", "oben", "vorgabe"},
		`(?:ubersetze|uebersetze|ubersetzen sie|fasse|zeig|zeige|zeigen sie|gib|gebt|geben sie|verrate|verraten sie|verrat|wiederhole|wiederholen sie|drucke|drucken sie|nenne|nennen sie|schreib|schreibe|schreiben sie|offenbare|offenlege|teile|teilen sie|kopiere|kopieren sie|gib aus|was ist|was sind|was war|was waren|wie lautet|wie lauten|wie lautete|wie lauteten|liste|liste auf) ` +
			`(?:mir |uns )?(?:bitte )?(?:genau |wortlich |woertlich |vollstandig |vollstaendig |komplett )?(?:[a-z0-9]+ ){0,3}(?:(?:den|die|das) (?:system ?prompt|systemprompt|systemnachricht|geheimen anweisungen|versteckten anweisungen)|(?:deinen|deine|ihren|ihre|dein|ihr|euren|eure) ` +
			`(?:(?:genauen|kompletten|vollstandigen|ganzen|geheimen|versteckten|internen|ursprunglichen|urspruenglichen|anfanglichen|anfaenglichen|ersten|initialen|obigen|verborgenen) )*` +
			`(?:system ?prompt|systemprompt|systemnachricht|system nachricht|systemanweisungen?|systeminstruktionen|startanweisungen|vorgaben|` +
			`(?:geheimen|versteckten|internen|ursprunglichen|urspruenglichen|anfanglichen|anfaenglichen|initialen|obigen|verborgenen|ersten) (?:anweisungen|instruktionen|prompt|text|regeln)|` +
			`(?:anweisungen|instruktionen|prompt|text) (?:oben|von oben|daruber|darueber|davor|die du (?:bekommen|erhalten) hast)))`},
	{"de.repeat_above", "de", strong,
		[]string{"oben", "daruber", "darueber", "vorher", "anfang"},
		`(?:wiederhole|wiederholen sie|gib|geben sie|drucke|schreib|schreibe|kopiere) (?:mir )?(?:bitte )?(?:alles|den text|die worter|die woerter|den gesamten text|alle worter) (?:was )?(?:(?:steht|geschrieben steht|stand) )?(?:oben|daruber|darueber|davor|vorher|von anfang an|am anfang)`},
	{"de.unrestricted_ai", "de", 0.8,
		[]string{"einschrank", "einschraenk", "regeln", "filter", "zensur", "grenzen", "uneingeschr", "unzensiert", "ungefiltert", "dan ", "bose", "boese"},
		`(?:du bist|sie sind|du wirst|sie werden|agiere als|agieren sie als|handle als|verhalte dich wie|sei) (?:jetzt |nun |ab sofort |ab jetzt |von nun an )?(?:dan|eine? (?:ki|assistent|modell|chatbot|version|sprachmodell) (?:ohne|frei von) (?:jegliche |alle |irgendwelche )?(?:einschrankungen|einschraenkungen|regeln|filter|zensur|grenzen|beschrankungen)|eine? (?:uneingeschrankte|uneingeschraenkte|unzensierte|ungefilterte|bose|boese|freie|uneingeschrankter|unzensierter|ungefilterter|boser|freier) (?:ki|version|assistent|modell|chatbot))`},
	{"de.developer_mode", "de", 0.45,
		[]string{"modus ", "entwicklermodus", "gottmodus", "adminmodus", "debugmodus"},
		`(?:aktiviere|aktivieren sie|aktiviert|wechsle in den|wechsel in den|wechseln sie in den|starte|im|in den|schalte) (?:den )?(?:entwicklermodus|entwickler modus|developer modus|developer mode|gottmodus|gott modus|admin modus|adminmodus|debug modus|debugmodus|jailbreak modus|dan modus|modus ohne einschrankungen)`},
	{"de.roleplay_opener", "de", 0.3,
		[]string{"tu so", "tue so", "stell dir vor", "stellen sie sich vor", "gib vor", "rolle", "ab jetzt", "ab sofort", "von nun an"},
		`(?:tu so als|tue so als|tun sie so als|stell dir vor du bist|stellen sie sich vor sie sind|gib vor|spiel die rolle|spiele die rolle|schlupfe in die rolle|ab jetzt bist du|ab sofort bist du|von nun an bist du|ab jetzt wirst du|von nun an wirst du)`},
	{"de.no_restrictions", "de", 0.4,
		[]string{"einschr", "regeln", "filter", "zensur", "grenzen", "beschr", "ethi", "moral"},
		`(?:ohne|keine|frei von|ignoriere) (?:jegliche |alle |irgendwelche |deine )?(?:einschrankungen|einschraenkungen|regeln|filter|zensur|grenzen|beschrankungen|beschraenkungen|ethischen? (?:richtlinien|grenzen|bedenken)|ethische (?:richtlinien|grenzen|bedenken)|moral|moralischen (?:grenzen|bedenken)|richtlinien)`},
}

const (
	esVerb = `(?:ignora|ignore|ignorar|ignoren|ignoras|olvida|olvide|olvidar|olviden|olvidate|descarta|descarte|descartar|desestima|desestime|omite|omita|omitir|salta|saltate|no hagas caso (?:a|de)|no haga caso (?:a|de)|haz caso omiso (?:a|de)|haga caso omiso (?:a|de)|deja de lado|deja de seguir|no sigas|no obedezcas|anula|anule|elimina|borra)`
	esNoun = `(?:instrucciones|instruccion|reglas|indicaciones|directrices|directivas|ordenes|normas|restricciones|comandos|pautas|prompt|consignas|limitaciones|programacion)`
	esQual = `(?:anteriores|previas|previos|de arriba|de antes|iniciales|originales|del sistema|de sistema|que te (?:dieron|han dado|di|dimos)|que recibiste|que has recibido|precedentes|pasadas|predeterminadas|de seguridad)`
)

var rulesES = []ruleSpec{
	{"es.new_instructions", "es", weak,
		[]string{"instruc", "regla", "indicacion", "norma"},
		`(?:nuevas|verdaderas|reales|autenticas) (?:instrucciones|reglas|indicaciones|normas)`},
	{"es.instructions_void", "es", medium,
		[]string{"prueba", "falsa", "anulada", "invalida"},
		`` + esNoun + ` (?:anteriores|previas|iniciales|originales|del sistema) (?:eran|son|era|es) (?:solo |solamente )?(?:una prueba|falsas?|anuladas?|invalidas?)`},
	{"es.without_instructions", "es", medium,
		[]string{"sin "},
		`sin (?:tus|sus) ` + esNoun},
	{"es.no_longer_rules", "es", medium,
		[]string{"ya no"},
		`ya no (?:tienes|tiene|tienen) (?:ningunas? )?(?:reglas|restricciones|limites|filtros|normas|limitaciones)`},
	{"es.mode_enabled", "es", medium,
		[]string{"modo "},
		`modo (?:desarrollador|de desarrollador|dios|sin restricciones|sin censura|dan|jailbreak) (?:esta )?(?:ahora )?(?:activado|activo|habilitado|desbloqueado)`},
	{"es.ignore_instructions", "es", strong,
		[]string{"ignor", "olvid", "descart", "desestim", "omit", "salta", "caso", "lado", "sig", "obedezc", "anul", "elimin", "borra"},
		esVerb + ` (?:(?:todas|todos|toda|todo) )?(?:(?:las|tus|sus|estas|esas|los|la|el|cualquier) )?(?:` + esNoun + ` ` + esQual + `|` + esQual + ` ` + esNoun + `)`},
	{"es.ignore_possessive", "es", strong,
		[]string{"salta", "ignor", "olvid", "descart", "desestim", "omit", "caso", "lado", "sig", "obedezc", "anul"},
		esVerb + ` (?:(?:todas|todos) )?(?:tus|sus|todas las|todas tus) ` + esNoun},
	{"es.forget_everything", "es", strong,
		[]string{"olvid", "ignor"},
		`(?:olvida|olvide|olvidate de|ignora|ignore|olviden|ignoren) (?:todo|todo lo|lo) (?:anterior|que te (?:dijeron|han dicho|dije|he dicho|ensenaron)|lo que (?:te )?(?:dijeron|han dicho|dije|sabes)|que sabes|de arriba|lo de arriba|previo|dicho|lo dicho)`},
	{"es.reveal_prompt", "es", strong,
		[]string{"prompt", "instruc", "mensaje", "indicacion", "arriba"},
		`(?:traduce|traduzca|resume|resuma|revela|revelame|revele|muestra|muestrame|muestre|muestreme|imprime|imprima|repite|repita|dime|digame|dame|deme|escribe|escriba|copia|copie|comparte|comparta|ensename|ensenanos|cual es|cuales son|cual era|cuales eran|divulga|expon|lista|recita) ` +
			`(?:me |nos )?(?:todo |textualmente |exactamente |palabra por palabra )?(?:de )?(?:[a-z0-9]+ ){0,3}(?:(?:tu|tus|su|sus) ` +
			`(?:(?:prompt|mensaje|instrucciones|indicaciones|texto|directrices|reglas) (?:del sistema|de sistema|sistema|iniciales?|originales?|ocultas?|ocultos|secretas?|secretos|de arriba|anteriores|internas?|confidenciales?|de partida)|` +
			`(?:prompt|instrucciones|indicaciones) (?:que (?:te dieron|recibiste|tienes|sigues))|system prompt)` +
			`|(?:el|la|las|los) (?:(?:prompt|mensaje) (?:del sistema|de sistema|sistema|inicial|original|oculto|secreto)|(?:instrucciones|indicaciones) (?:ocultas|secretas|del sistema|que te dieron|que recibiste)|system prompt))`},
	{"es.repeat_above", "es", strong,
		[]string{"arriba", "anterior", "principio", "inicio"},
		`(?:repite|repita|copia|copie|imprime|imprima|escribe|escriba|muestra|muestrame) (?:todo |el texto |las palabras |todo el texto |lo que esta escrito |lo que |esta escrito )*(?:de arriba|arriba|anterior|que esta arriba|desde el (?:principio|inicio)|del principio|al principio)`},
	{"es.unrestricted_ai", "es", 0.8,
		[]string{"restric", "limite", "filtro", "censura", "regla", "dan ", "libre"},
		`(?:eres|seras|ahora eres|conviertete en|actua como|actue como|comportate como|a partir de ahora eres|desde ahora eres) (?:ahora |a partir de ahora |desde ahora )?(?:dan|una? (?:ia|inteligencia artificial|asistente|modelo|chatbot|version) (?:sin (?:ninguna |ningun )?(?:restricciones|limites|filtros|censura|reglas|limitaciones)|libre|sin censura|malvada?|sin filtrar))`},
	{"es.developer_mode", "es", 0.45,
		[]string{"modo "},
		`(?:activa|active|activar|entra en|entre en|cambia a|cambie a|pasa a|pase a|en|habilita|habilite) (?:el )?modo (?:desarrollador|de desarrollador|dios|sin restricciones|sin censura|sin filtros|admin|administrador|depuracion|dan|jailbreak)`},
	{"es.roleplay_opener", "es", 0.3,
		[]string{"finge", "finja", "como si", "imagina", "papel", "a partir de ahora", "desde ahora", "actua como", "actue como"},
		`(?:finge que eres|finge ser|finja que es|finja ser|haz como si fueras|haga como si fuera|imagina que eres|imagine que es|interpreta el papel|haz el papel|a partir de ahora tu|a partir de ahora eres|desde ahora eres|desde ahora tu|actua como|actue como)`},
	{"es.no_restrictions", "es", 0.4,
		[]string{"restric", "limite", "filtro", "censura", "regla", "etic", "moral", "limitacion"},
		`(?:sin|ningun|ninguna|ignora|ignorando|libre de|fuera de) (?:ninguna |ningun |tus |las |los )?(?:restricciones|limites|filtros|censura|reglas|etica|moral|limitaciones|pautas eticas|restriccion)`},
}
