var S=null;
function fmtV(v){if(v===null||v===undefined)return '–';if(typeof v==='number'){
  return Math.abs(v)>=1000?fmtNum(v,2):(+v.toPrecision(8)).toString();}
  if(typeof v==='object')return JSON.stringify(v);return String(v);}
function kv(el,obj){var ks=obj?Object.keys(obj):[];
  el.innerHTML=ks.length?ks.map(function(k){return '<dt>'+esc(k)+'</dt><dd>'+esc(fmtV(obj[k]))+'</dd>';}).join(''):
  '<dt class="muted">none</dt><dd></dd>';}
function table(el,rows){if(!rows||!rows.length){el.innerHTML='<tr><td class="l muted">none</td></tr>';return;}
  var cols=[];rows.forEach(function(r){Object.keys(r).forEach(function(k){if(cols.indexOf(k)<0)cols.push(k);});});
  el.innerHTML='<thead><tr>'+cols.map(function(c){return '<th class="l">'+esc(c)+'</th>';}).join('')+'</tr></thead><tbody>'+
    rows.map(function(r){return '<tr>'+cols.map(function(c){var v=r[c];
      var cls=(c==='side')?(String(v).toLowerCase().indexOf('buy')>=0||v===1||String(v).toLowerCase()==='long'?'pos':'neg'):'';
      if(c==='ts'||c==='time'||c==='exec_time')v=typeof v==='number'?fmtTs(v)+':'+new Date(v).toISOString().slice(17,19):v;
      return '<td class="l '+cls+'">'+esc(fmtV(v))+'</td>';}).join('')+'</tr>';}).join('')+'</tbody>';}
function drawEquity(){var cv=document.getElementById('equity'),r=window.devicePixelRatio||1;
  var w=cv.clientWidth,h=cv.clientHeight;cv.width=w*r;cv.height=h*r;var g=cv.getContext('2d');g.scale(r,r);
  g.fillStyle=cssVar('--panel');g.fillRect(0,0,w,h);
  var pts=S?S.equity:[];if(pts.length<1){g.fillStyle=cssVar('--muted');g.font='13px '+cssVar('--sans');
    g.fillText('waiting for equity updates…',12,24);return;}
  var ys=pts.map(function(p){return p[1];}),lo=Math.min.apply(null,ys),hi=Math.max.apply(null,ys);
  if(hi===lo){hi+=1;lo-=1;}var L=70,R=12,T=12,B=24;
  g.strokeStyle=cssVar('--grid');g.fillStyle=cssVar('--muted');g.font='11px '+cssVar('--sans');g.lineWidth=1;
  for(var k=0;k<=4;k++){var y=T+(h-T-B)*k/4;g.beginPath();g.moveTo(L,y);g.lineTo(w-R,y);g.stroke();
    g.fillText(fmtNum(hi-(hi-lo)*k/4,2),4,y+4);}
  var n=pts.length;function X(i){return n===1?(L+w-R)/2:L+(w-L-R)*i/(n-1);}function Y(v){return T+(h-T-B)*(hi-v)/(hi-lo);}
  g.beginPath();g.moveTo(X(0),Y(ys[0]));for(var i=1;i<n;i++)g.lineTo(X(i),Y(ys[i]));
  g.strokeStyle=cssVar('--accent');g.lineWidth=2;g.stroke();
  g.lineTo(X(n-1),h-B);g.lineTo(X(0),h-B);g.closePath();g.globalAlpha=0.12;g.fillStyle=cssVar('--accent');g.fill();g.globalAlpha=1;
  g.beginPath();g.arc(X(n-1),Y(ys[n-1]),3.5,0,7);g.fillStyle=cssVar('--accent');g.fill();
  if(pts[0][0]){g.fillStyle=cssVar('--muted');g.fillText(fmtTs(pts[0][0]),L,h-6);
    var t=fmtTs(pts[n-1][0]);g.fillText(t,w-R-g.measureText(t).width,h-6);}}
function render(){if(!S)return;var p=S.position||null,info=S.info||{};
  document.getElementById('title').textContent=info.play||info.name||'trade';
  document.getElementById('sub').textContent=[info.mode,info.symbol,S.ts?('updated '+fmtTs(S.ts)):null].filter(Boolean).join(' · ');
  var eq=S.equity.length?S.equity[S.equity.length-1][1]:null,first=S.equity.length?S.equity[0][1]:null;
  var upnl=p&&p.unrealized_pnl!==undefined?p.unrealized_pnl:null;
  var k=[['Equity',eq===null?'–':fmtNum(eq,2),0],['Session P&L',eq===null?'–':fmtNum(eq-first,2),eq===null?0:eq-first],
    ['Position',p&&p.size?((p.side||'')+' '+fmtV(p.size)):'flat',0],['Unrealized',upnl===null?'–':fmtNum(upnl,2),upnl||0],
    ['Open orders',String(S.open_orders.length),0],['Fills',String(S.fills.length),0]];
  document.getElementById('kpis').innerHTML=k.map(function(x){return '<div class="kpi"><div class="l">'+x[0]+
    '</div><div class="v '+(x[2]>0?'pos':x[2]<0?'neg':'')+'">'+esc(x[1])+'</div></div>';}).join('');
  kv(document.getElementById('position'),p);kv(document.getElementById('health'),S.connection);
  kv(document.getElementById('info'),info);
  table(document.getElementById('orders'),S.open_orders);table(document.getElementById('fills'),S.fills);
  document.getElementById('norders').textContent=S.open_orders.length;document.getElementById('nfills').textContent=S.fills.length;
  document.getElementById('eqlast').textContent=eq===null?'':fmtNum(eq,2)+' USDT';
  renderPlays(S.plays||[]);
  drawEquity();window.DASH_VERSION=S.version;}
function renderPlays(ps){var card=document.getElementById('playscard');card.hidden=!ps.length;if(!ps.length)return;
  document.getElementById('nplays').textContent=ps.length;
  table(document.getElementById('plays'),ps.map(function(r){var p=r.position||{};
    return {play:r.play,symbol:r.play_symbol,mode:r.play_mode,
      position:p.size?((p.side===1?'long':p.side===-1?'short':String(p.side))+' '+fmtV(p.size)):'flat',
      unrealized:p.unrealized_pnl===undefined?null:p.unrealized_pnl,equity:r.equity===undefined?null:r.equity,
      orders:(r.open_orders||[]).length,entries:r.entries,lag_ms:r.lag_ms,ts:r.ts};}));}
function streamState(t,ok){var e=document.getElementById('stream');e.textContent=t;e.className='chip '+(ok?'pos':'neg');}
function connect(){if(!window.EventSource){poll();return;}
  var es=new EventSource('/events');
  es.onopen=function(){streamState('live',true);};
  es.onmessage=function(ev){S=JSON.parse(ev.data);render();};
  es.onerror=function(){streamState('reconnecting…',false);};}
function poll(){fetch('/state').then(function(r){return r.json();}).then(function(s){S=s;render();streamState('polling',true);})
  .catch(function(){streamState('offline',false);}).then(function(){setTimeout(poll,2000);});}
window.onThemeChange=render;window.addEventListener('resize',drawEquity);
connect();
