package testmodel

// commonWords are the whole words of the base vocabulary. Every prefix of
// "▁"+word becomes a token too, so SentencePiece's pairwise merges can build
// each word up from its characters.
const commonWords = `
the be to of and a in that have i it for not on with he as you do at this
but his by from they we say her she or an will my one all would there their
what so up out if about who get which go me when make can like time no just
him know take people into year your good some could them see other than then
now look only come its over think also back after use two how our work first
well way even new want because any these give day most us is was are were
been has had did said made went got find here where why very more many much
such own same tell call try ask need feel become leave put mean keep let
begin seem help talk turn start show hear play run move live believe hold
bring happen write provide sit stand lose pay meet include continue set learn
change lead understand watch follow stop create speak read allow add spend
grow open walk win offer remember love consider appear buy wait serve die
send expect build stay fall cut reach kill remain suggest raise pass sell
require report decide pull thing man woman child world life hand part place
case week company system program question government number night point home
water room mother area money story fact month lot right study book eye job
word business issue side kind head house service friend father power hour
game line end member law car city community name president team minute idea
kid body information school face others level office door health person art
war history party result morning reason research girl guy moment air teacher
force education great little long old big high different small large next
early young important few public bad able last best better sure free true
whole real hello yes please thank thanks sorry okay model answer user
assistant message chat token text data file code test value example problem
three four five six seven eight nine ten hundred today tomorrow yesterday
always never sometimes often again still already yet soon once while before
until between under through during without within around against each every
both either neither something nothing everything someone anyone everyone
`
