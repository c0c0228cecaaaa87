(function(){
var D=JSON.parse(document.getElementById('report-data').textContent);
var M=D.meta, T=D.trades, NT=M.n_trades, DEC=M.decimals, P10=Math.pow(10,DEC), QDEC=M.qty_decimals;
var MAXV=1800;  // at most this many candles drawn at once
function rp(v){return Math.round(v*P10)/P10;}
function decodeLevel(L){if(!L)return null;
  var m=b64u32(L.tmin),ts=new Float64Array(m.length);for(var i=0;i<m.length;i++)ts[i]=L.t0+m[i]*60000;
  return {interval:L.interval,ms:L.ms,ts:ts,o:b64f32(L.o),h:b64f32(L.h),l:b64f32(L.l),
    c:b64f32(L.c),segments:L.segments||null};}
var LV=D.levels.map(decodeLevel), FINE=decodeLevel(D.fine);
var ALL=LV.slice(); if(FINE)ALL.push(FINE);
var hasBars=LV.length>0;

// ------------------------------------------------------------------ KPIs
var k=document.getElementById('kpis');
D.kpis.forEach(function(x){var d=document.createElement('div');d.className='kpi';d.title=x.def;
  d.innerHTML='<div class="l">'+esc(x.label)+'</div><div class="v '+(x.sign>0?'pos':x.sign<0?'neg':'')+
  '">'+esc(x.text)+'</div>';k.appendChild(d);});

// ------------------------------------------------------------------ price chart
var REASON={signal:['Exit: signal','x-thin-open','--muted'],stop_loss:['Exit: stop loss','x','--down'],
  take_profit:['Exit: take profit','star','--up'],trailing_stop:['Exit: trailing stop','x','--warn'],
  liquidation:['Liquidation','hexagram','--down'],flip:['Exit: flip','diamond-open','--accent'],
  end_of_data:['Exit: end of data','square-open','--muted']};
function tradeText(i){return '#'+T.trade_id[i]+' '+(T.side[i]>0?'long':'short')+' · net '+
  fmtNum(T.net_pnl[i],2)+' USDT';}
function markerTraces(){
  var out=[], up=cssVar('--up'), dn=cssVar('--down');
  var el={x:[],y:[],t:[]}, es={x:[],y:[],t:[]};
  for(var i=0;i<NT;i++){var g=T.side[i]>0?el:es;g.x.push(T.entry_ts[i]+30000);g.y.push(T.entry_price[i]);
    g.t.push('Entry '+tradeText(i));}
  out.push({type:'scatter',mode:'markers',name:'Long entry',x:el.x,y:el.y,text:el.t,hoverinfo:'text+y',
    marker:{symbol:'triangle-up',size:11,color:up,line:{width:1,color:cssVar('--panel')}}});
  out.push({type:'scatter',mode:'markers',name:'Short entry',x:es.x,y:es.y,text:es.t,hoverinfo:'text+y',
    marker:{symbol:'triangle-down',size:11,color:dn,line:{width:1,color:cssVar('--panel')}}});
  var by={};
  for(var i=0;i<NT;i++){var r=T.exit_reason[i];if(!by[r])by[r]={x:[],y:[],t:[]};
    by[r].x.push(T.exit_ts[i]+30000);by[r].y.push(T.exit_price[i]);by[r].t.push(REASON[r]?REASON[r][0]+' '+tradeText(i):r);}
  Object.keys(by).forEach(function(r){var s=REASON[r]||[r,'circle-open','--muted'];
    var liq=r==='liquidation';
    out.push({type:'scatter',mode:'markers',name:s[0],x:by[r].x,y:by[r].y,text:by[r].t,hoverinfo:'text+y',
      marker:{symbol:s[1],size:liq?16:10,color:cssVar(s[2]),line:{width:liq?2:1.5,color:liq?cssVar('--ink'):cssVar(s[2])}}});});
  var lw={x:[],y:[]}, ll={x:[],y:[]};
  for(var i=0;i<NT;i++){var g=T.net_pnl[i]>=0?lw:ll;
    g.x.push(T.entry_ts[i]+30000,T.exit_ts[i]+30000,null);g.y.push(T.entry_price[i],T.exit_price[i],null);}
  out.push({type:'scatter',mode:'lines',name:'Winning trade',x:lw.x,y:lw.y,hoverinfo:'skip',
    line:{color:up,width:1.5,dash:'dot'}});
  out.push({type:'scatter',mode:'lines',name:'Losing trade',x:ll.x,y:ll.y,hoverinfo:'skip',
    line:{color:dn,width:1.5,dash:'dot'}});
  [['stop_loss','Stop loss','--down'],['take_profit','Take profit','--up']].forEach(function(s){
    var col=T[s[0]];if(!col)return;var x=[],y=[];
    for(var i=0;i<NT;i++){if(col[i]===null)continue;x.push(T.entry_ts[i],T.exit_ts[i]+60000,null);y.push(col[i],col[i],null);}
    if(x.length)out.push({type:'scatter',mode:'lines',name:s[1],x:x,y:y,hoverinfo:'skip',
      line:{color:cssVar(s[2]),width:1.2,dash:'dash'}});});
  return out;
}
function lowerBound(a,v){var lo=0,hi=a.length;while(lo<hi){var m=(lo+hi)>>1;if(a[m]<v)lo=m+1;else hi=m;}return lo;}
function covered(L,a,b){if(!L.segments)return true;var mid=(a+b)/2;
  for(var i=0;i<L.segments.length;i++){var s=L.segments[i];if(s[0]<=mid&&mid<s[1])return true;}return false;}
function pickLevel(a,b){var span=b-a;
  if(FINE&&span/FINE.ms<=MAXV&&covered(FINE,a,b))return FINE;
  for(var i=LV.length-1;i>=0;i--){if(span/LV[i].ms<=MAXV)return LV[i];}
  return LV[0];}
function sliceLevel(L,a,b){var pad=(b-a)*0.5;var i=Math.max(0,lowerBound(L.ts,a-pad)),j=Math.min(L.ts.length,lowerBound(L.ts,b+pad));
  if(j-i>3*MAXV){i=Math.max(0,lowerBound(L.ts,a));j=Math.min(L.ts.length,lowerBound(L.ts,b));}
  var x=new Array(j-i),o=new Array(j-i),h=new Array(j-i),l=new Array(j-i),c=new Array(j-i),lo=Infinity,hi=-Infinity;
  for(var k=i;k<j;k++){var n=k-i;x[n]=L.ts[k]+L.ms/2;o[n]=rp(L.o[k]);h[n]=rp(L.h[k]);l[n]=rp(L.l[k]);c[n]=rp(L.c[k]);
    if(L.ts[k]+L.ms>a&&L.ts[k]<b){if(l[n]<lo)lo=l[n];if(h[n]>hi)hi=h[n];}}
  return {x:x,o:o,h:h,l:l,c:c,lo:lo,hi:hi};}
var PRICE=document.getElementById('price'), MARK=null, cur={key:''}, sel=-1;
function candle(s,L){return {type:'candlestick',name:M.symbol+' '+L.interval,x:s.x,open:s.o,high:s.h,low:s.l,close:s.c,
  increasing:{line:{color:cssVar('--up'),width:1},fillcolor:cssVar('--up')},
  decreasing:{line:{color:cssVar('--down'),width:1},fillcolor:cssVar('--down')},
  whiskerwidth:0.3,hoverlabel:{namelength:-1}};}
function drawPrice(a,b,force){
  if(!hasBars){PRICE.innerHTML='<div class="banner">No OHLC bars were available for this run.</div>';return;}
  var L=pickLevel(a,b), key=L.interval+':'+a+':'+b;
  if(!force&&key===cur.key)return; cur.key=key;
  var s=sliceLevel(L,a,b); if(!MARK)MARK=markerTraces();
  var pad=(s.hi-s.lo)*0.06||s.hi*0.01;
  var shapes=[];
  if(sel>=0)shapes.push({type:'rect',xref:'x',yref:'paper',x0:T.entry_ts[sel],x1:T.exit_ts[sel]+60000,y0:0,y1:1,
    fillcolor:cssVar('--accent'),opacity:0.08,line:{width:0}});
  var layout=baseLayout({hovermode:'closest',showlegend:true,shapes:shapes,dragmode:'zoom',
    xaxis:{type:'date',range:[a,b],rangeslider:{visible:false},autorange:false},
    yaxis:{range:isFinite(s.lo)?[s.lo-pad,s.hi+pad]:undefined,autorange:!isFinite(s.lo),side:'right',tickformat:',.'+Math.min(DEC,2)+'f'},
    margin:{l:20,r:70,t:10,b:40}});
  document.getElementById('lod').textContent=L.interval+' candles'+(L===FINE?' (full detail)':'')+
    (D.fine&&D.fine.truncated?' · 1m detail kept for the earlier trades only':'');
  busy=true; Plotly.react(PRICE,[candle(s,L)].concat(MARK),layout,PLOT_CONFIG).then(function(){busy=false;});
}
var busy=false;
function parseX(v){if(typeof v==='number')return v;return Date.parse(String(v).replace(' ','T')+(String(v).length>10?'Z':'T00:00:00Z'));}
PRICE.addEventListener&&null;
var RANGE=[M.start,M.end];
drawPrice(RANGE[0],RANGE[1],true);
if(hasBars)PRICE.on('plotly_relayout',function(ev){if(busy)return;
  if(ev['xaxis.autorange']){drawPrice(RANGE[0],RANGE[1]);return;}
  var a=ev['xaxis.range[0]'],b=ev['xaxis.range[1]'];
  if(a===undefined&&ev['xaxis.range']){a=ev['xaxis.range'][0];b=ev['xaxis.range'][1];}
  if(a===undefined)return; drawPrice(parseX(a),parseX(b));});
function zoomTrade(i){if(i<0||i>=NT)return;sel=i;
  var a=T.entry_ts[i],b=T.exit_ts[i]+60000,m=Math.max(30*60000,(b-a)*0.25);
  if(FINE&&D.fine.margin_ms)m=Math.min(m,Math.max(D.fine.margin_ms,30*60000));
  drawPrice(a-m,b+m,true);
  document.getElementById('cur').textContent=tradeText(i)+' · '+fmtTs(T.entry_ts[i])+' → '+fmtTs(T.exit_ts[i]);
  markRow();}
window.zoomTrade=zoomTrade;
document.getElementById('prev').onclick=function(){zoomTrade(sel<=0?0:sel-1);};
document.getElementById('next').onclick=function(){zoomTrade(sel<0?0:Math.min(NT-1,sel+1));};
function zoomEnd(which){if(sel<0)zoomTrade(0);if(sel<0)return;var t=(which==='entry'?T.entry_ts:T.exit_ts)[sel];
  var m=FINE&&D.fine.margin_ms?Math.min(D.fine.margin_ms,60*60000):60*60000;drawPrice(t-m,t+m+60000,true);}
document.getElementById('zentry').onclick=function(){zoomEnd('entry');};
document.getElementById('zexit').onclick=function(){zoomEnd('exit');};
document.getElementById('reset').onclick=function(){sel=-1;document.getElementById('cur').textContent='';drawPrice(RANGE[0],RANGE[1],true);markRow();};
if(!NT){['prev','next','zentry','zexit'].forEach(function(id){document.getElementById(id).disabled=true;});}

// ------------------------------------------------------------------ equity
var E=D.equity, ets=Array.from(b64f64(E.ts)), eq=Array.from(b64f32(E.equity)), edd=Array.from(b64f32(E.dd));
function drawEquity(){
  var tr=[{type:'scatter',mode:'lines',name:'Strategy equity',x:ets,y:eq,line:{color:cssVar('--accent'),width:1.8},yaxis:'y'}];
  if(E.bh)tr.push({type:'scatter',mode:'lines',name:'Buy & hold',x:ets,y:Array.from(b64f32(E.bh)),
    line:{color:cssVar('--muted'),width:1.2},yaxis:'y'});
  tr.push({type:'scatter',mode:'lines',name:'Drawdown',x:ets,y:edd.map(function(v){return v*100;}),fill:'tozeroy',
    line:{color:cssVar('--down'),width:1},fillcolor:'rgba(217,71,91,0.25)',yaxis:'y2'});
  Plotly.react('equity',tr,baseLayout({grid:{rows:2,columns:1,roworder:'top to bottom'},
    xaxis:{type:'date',anchor:'y2'},yaxis:{domain:[0.34,1],title:{text:'USDT'},tickformat:',.0f'},
    yaxis2:{domain:[0,0.26],title:{text:'DD %'},ticksuffix:'%',gridcolor:cssVar('--grid'),rangemode:'tozero'},
    margin:{l:70,r:20,t:10,b:40}}),PLOT_CONFIG);}
drawEquity();

// ------------------------------------------------------------------ monthly heatmap
var MO=D.monthly, MN=['Jan','Feb','Mar','Apr','May','Jun','Jul','Aug','Sep','Oct','Nov','Dec'];
function drawMonthly(){
  var z=MO.z.map(function(r,i){return r.map(function(v){return v===null?null:v*100;}).concat([MO.year_total[i]===null?null:MO.year_total[i]*100]);});
  var text=z.map(function(r){return r.map(function(v){return v===null?'':(v>=0?'+':'')+v.toFixed(1)+'%';});});
  var mx=1;z.forEach(function(r){r.forEach(function(v){if(v!==null&&Math.abs(v)>mx)mx=Math.abs(v);});});
  var el=document.getElementById('monthly'); el.style.height=(90+34*MO.years.length)+'px';
  Plotly.react(el,[{type:'heatmap',z:z,x:MN.concat(['Year']),y:MO.years.map(String),text:text,texttemplate:'%{text}',
    hovertemplate:'%{y} %{x}: %{text}<extra></extra>',zmid:0,zmin:-mx,zmax:mx,xgap:2,ygap:2,
    colorscale:[[0,cssVar('--down')],[0.5,cssVar('--panel')],[1,cssVar('--up')]],showscale:false}],
    baseLayout({hovermode:'closest',yaxis:{autorange:'reversed',type:'category'},xaxis:{side:'top',type:'category'},
      margin:{l:50,r:10,t:30,b:10}}),PLOT_CONFIG);}
drawMonthly();

// ------------------------------------------------------------------ MAE / MFE
function drawMaeMfe(){var w={x:[],y:[],t:[],i:[]},l={x:[],y:[],t:[],i:[]};
  for(var i=0;i<NT;i++){var g=T.net_pnl[i]>0?w:l;g.x.push(T.mae[i]);g.y.push(T.mfe[i]);g.t.push(tradeText(i));g.i.push(i);}
  Plotly.react('maemfe',[
    {type:'scatter',mode:'markers',name:'Win',x:w.x,y:w.y,text:w.t,customdata:w.i,marker:{color:cssVar('--up'),size:7,opacity:0.75}},
    {type:'scatter',mode:'markers',name:'Loss / flat',x:l.x,y:l.y,text:l.t,customdata:l.i,marker:{color:cssVar('--down'),size:7,opacity:0.75}}],
    baseLayout({hovermode:'closest',xaxis:{title:{text:'MAE (worst open loss)'}},yaxis:{title:{text:'MFE (best open profit)'}},
      margin:{l:70,r:20,t:10,b:50}}),PLOT_CONFIG).then(function(gd){gd.on('plotly_click',function(ev){
        var p=ev.points&&ev.points[0];if(p&&p.customdata!==undefined){zoomTrade(p.customdata);PRICE.scrollIntoView({behavior:'smooth'});}});});}
drawMaeMfe();

// ------------------------------------------------------------------ trade table
var COLS=[['trade_id','#',0],['side','Side',-1],['entry_ts','Entry (UTC)',-2],['exit_ts','Exit (UTC)',-2],['dur','Held',-3],
  ['entry_price','Entry',DEC],['exit_price','Exit',DEC],['qty','Qty',-4],['ret','Return',-5],['net_pnl','Net PnL',2],
  ['fees','Fees',2],['funding','Funding',2],['mae','MAE',2],['mfe','MFE',2],['exit_reason','Exit reason',-1],['leverage','Lev.',1]];
if(T.stop_loss)COLS.splice(7,0,['stop_loss','SL',DEC]);
if(T.take_profit)COLS.splice(T.stop_loss?8:7,0,['take_profit','TP',DEC]);
T.dur=T.entry_ts.map(function(a,i){return T.exit_ts[i]-a;});
T.ret=T.entry_ts.map(function(a,i){var n=T.entry_price[i]*T.qty[i];return n?T.net_pnl[i]/n:0;});
var order=[];for(var i=0;i<NT;i++)order.push(i);
var sortKey=null,sortDir=1,pageNo=0,PAGE=200;
function dur(ms){var m=Math.round(ms/60000);if(m<60)return m+'m';var h=m/60;if(h<48)return h.toFixed(1)+'h';return (h/24).toFixed(1)+'d';}
function cell(c,i){var v=T[c[0]]?T[c[0]][i]:null;
  if(c[2]===-1&&c[0]==='side')return '<td class="l"><span class="chip '+(v>0?'pos':'neg')+'">'+(v>0?'long':'short')+'</span></td>';
  if(c[2]===-1)return '<td class="l">'+esc(String(v).replace(/_/g,' '))+'</td>';
  if(c[2]===-2)return '<td class="l">'+fmtTs(v)+'</td>';
  if(c[2]===-3)return '<td>'+dur(v)+'</td>';
  if(c[2]===-4)return '<td>'+(QDEC===null||QDEC===undefined?(+Number(v).toPrecision(8)):Number(v).toFixed(QDEC))+'</td>';
  if(c[2]===-5)return '<td class="'+(v>0?'pos':v<0?'neg':'')+'">'+(v*100).toFixed(2)+'%</td>';
  var cls=(c[0]==='net_pnl')?(v>0?'pos':v<0?'neg':''):'';
  return '<td class="'+cls+'">'+(v===null?'–':fmtNum(v,c[2]))+'</td>';}
var thead=document.querySelector('#trades thead'), tbody=document.querySelector('#trades tbody');
thead.innerHTML='<tr>'+COLS.map(function(c,j){return '<th class="sortable'+(c[2]<=-1&&c[2]>=-2?' l':'')+'" data-j="'+j+'">'+c[1]+'</th>';}).join('')+'</tr>';
thead.querySelectorAll('th').forEach(function(th){th.onclick=function(){var c=COLS[+th.dataset.j][0];
  sortDir=(sortKey===c)?-sortDir:1;sortKey=c;var col=T[c];
  order.sort(function(x,y){var a=col[x],b=col[y];if(a===b)return x-y;if(a===null)return 1;if(b===null)return -1;return (a<b?-1:1)*sortDir;});
  thead.querySelectorAll('th').forEach(function(t){t.classList.remove('asc','desc');});
  th.classList.add(sortDir>0?'asc':'desc');pageNo=0;renderTable();};});
function renderTable(){var n=Math.max(1,Math.ceil(NT/PAGE));pageNo=Math.min(Math.max(pageNo,0),n-1);
  var rows=[];for(var r=pageNo*PAGE;r<Math.min(NT,(pageNo+1)*PAGE);r++){var i=order[r];
    rows.push('<tr class="click'+(i===sel?' sel':'')+'" data-i="'+i+'">'+COLS.map(function(c){return cell(c,i);}).join('')+'</tr>');}
  tbody.innerHTML=rows.join('')||'<tr><td class="l muted" colspan="'+COLS.length+'">No trades</td></tr>';
  document.getElementById('pinfo').textContent='page '+(pageNo+1)+' of '+n;
  document.getElementById('tcount').textContent=NT+' trades';}
function markRow(){tbody.querySelectorAll('tr.sel').forEach(function(r){r.classList.remove('sel');});
  var r=tbody.querySelector('tr[data-i="'+sel+'"]');if(r)r.classList.add('sel');}
tbody.onclick=function(ev){var tr=ev.target.closest('tr[data-i]');if(!tr)return;zoomTrade(+tr.dataset.i);
  PRICE.scrollIntoView({behavior:'smooth',block:'center'});};
document.getElementById('pprev').onclick=function(){pageNo--;renderTable();};
document.getElementById('pnext').onclick=function(){pageNo++;renderTable();};
renderTable();

// ------------------------------------------------------------------ metrics & manifest
var mg=document.getElementById('metrics');
D.metrics.forEach(function(g){var d=document.createElement('div');d.className='mgroup';
  d.innerHTML='<h3>'+esc(g.group)+'</h3>'+g.items.map(function(x){return '<div class="mrow"><span class="n" title="'+esc(x.def)+
    '">'+esc(x.label)+'<span class="d">'+esc(x.def)+'</span></span><span class="v '+(x.sign>0?'pos':x.sign<0?'neg':'')+'">'+
    esc(x.text)+'</span></div>';}).join('');mg.appendChild(d);});
if(!D.metrics.length)mg.innerHTML='<div class="muted">metrics.json is missing or empty</div>';
var mf=document.getElementById('manifest');
mf.innerHTML=D.manifest.map(function(r){return '<dt>'+esc(r[0])+'</dt><dd>'+esc(r[1])+'</dd>';}).join('')||'<dt>manifest.json</dt><dd>missing</dd>';

window.onThemeChange=function(){MARK=null;var r=cur.key.split(':');drawPrice(+r[1]||RANGE[0],+r[2]||RANGE[1],true);
  drawEquity();drawMonthly();drawMaeMfe();};
window.REPORT_READY=true;
})();
