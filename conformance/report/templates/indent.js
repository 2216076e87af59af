// The evidence in a panel is written compact, as json.dumps writes it by default (", " and
// ": " between items and after keys): indentation no one sees until a cell is opened was a
// third of the page's rendering time and a twelfth of its size. Shown, it is indented here
// exactly as json.dumps(value, indent=2) would have written it. Lexical, nothing is parsed:
// numbers stay as written (JSON.parse rounds integers past 2**53), and a block cut short
// stays readable.
function indentJSON(s){'use strict';
var out=[],pad='',i=0,n=s.length,c,inString=false;
for(;i<n;i++){c=s[i];
if(inString){out.push(c);if(c==='\\'){if(i+1<n)out.push(s[++i]);}else if(c==='"')inString=false;continue;}
if(c==='"'){inString=true;out.push(c);}
else if(c==='{'||c==='['){if(s[i+1]===(c==='{'?'}':']')){out.push(c,s[++i]);}
else{pad+='  ';out.push(c,'\n',pad);}}
else if(c==='}'||c===']'){pad=pad.slice(2);out.push('\n',pad,c);}
else if(c===','){out.push(',\n',pad);if(s[i+1]===' ')i++;}
else out.push(c);}
return out.join('');}
